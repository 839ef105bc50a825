import Logging

/// How log lines are written to stderr: `text` for people (swift-log's stream format), `json`
/// for log collectors (one object per line, see `JSONLogHandler`).
public enum LogFormat: String, CaseIterable, Sendable {
    case text
    case json

    /// Parses `text` or `json` (any case).
    public init?(parsing value: String) {
        self.init(rawValue: value.lowercased())
    }

    /// Parses a log level name (`trace` … `critical`, any case).
    public static func level(parsing value: String) -> Logger.Level? {
        Logger.Level(rawValue: value.lowercased())
    }

    /// Makes the handler for one logger label.
    public func makeHandler(label: String, level: Logger.Level) -> any LogHandler {
        switch self {
        case .text:
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        case .json:
            var handler = JSONLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
    }

    /// Sets up swift-log for the process: once, before the first `Logger` is made.
    public func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { label in self.makeHandler(label: label, level: level) }
    }
}
