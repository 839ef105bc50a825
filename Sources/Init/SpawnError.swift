/// A command that could not be started: 127 when not found, 126 when not executable.
public struct SpawnError: Error, CustomStringConvertible, Sendable {
    public enum Reason: Sendable, Equatable {
        case notFound(searchedPath: String?)
        case notExecutable(path: String, detail: String)
    }

    public var command: String
    public var reason: Reason

    public var exitStatus: ExitStatus {
        if case .notFound = self.reason { return .notFound }
        return .cannotExecute
    }

    public var description: String {
        switch self.reason {
        case .notFound(let searched?):
            return "cannot run '\(self.command)': command not found in PATH (\(searched))"
        case .notFound(nil):
            return "cannot run '\(self.command)': no such file"
        case .notExecutable(let path, let detail):
            return "cannot run '\(self.command)': \(path) is not executable (\(detail))"
        }
    }
}
