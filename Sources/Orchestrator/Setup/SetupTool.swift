import Init

/// A tool that set-up runs (update-ca-certificates, update-ca-trust…; found with Init's
/// `ExecutableSearch`), run to completion with relay-init's environment minus the token, its
/// output going to stderr as log.
enum SetupTool {
    enum Outcome: Equatable {
        case exited(Int32)
        case signaled(Int32)
        case couldNotStart(Int32)
    }

    static func run(_ executable: String, arguments: [String]) -> Outcome {
        // Our environment, but never the token.
        let environment = ProxyEnvironment.childEnvironment(inherited: ProcessEnvironment.current(), adding: [])
        switch ProcessSpawner.run(executable, arguments: arguments, environment: environment) {
        case .success(.exited(let code)): return .exited(code)
        case .success(.signaled(let signal)): return .signaled(signal)
        case .failure(let error): return .couldNotStart(error.code)
        }
    }
}
