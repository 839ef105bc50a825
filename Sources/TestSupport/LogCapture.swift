import Logging

/// Keeps what a `Logger` made from it logs, for tests that assert on log lines, and lets a test
/// wait for a line without polling.
public final class LogCapture: Sendable {
    public struct Record: Sendable, CustomStringConvertible {
        public var level: Logger.Level
        public var message: String
        public var metadata: [String: String]

        public var description: String { "\(self.level) \(self.message) \(self.metadata.sorted { $0.key < $1.key })" }
    }

    private let records = Waitable<[Record]>([])

    public init() {}

    /// A logger at `level` whose records land here.
    public func logger(label: String = "test", level: Logger.Level = .trace) -> Logger {
        var logger = Logger(label: label) { _ in Handler(capture: self) }
        logger.logLevel = level
        return logger
    }

    public var all: [Record] { self.records.current }

    /// Records with this message.
    public func records(_ message: String) -> [Record] {
        self.all.filter { $0.message == message }
    }

    /// Waits until `count` records with `message` were logged, and returns them.
    public func wait(for message: String, count: Int = 1) async throws -> [Record] {
        try await self.records.wait { records in
            let matching = records.filter { $0.message == message }
            return matching.count >= count ? matching : nil
        }
    }

    fileprivate func append(_ record: Record) {
        self.records.update { $0.append(record) }
    }

    private struct Handler: LogHandler {
        let capture: LogCapture
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { self.metadata[key] }
            set { self.metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = self.metadata.merging(event.metadata ?? [:]) { _, new in new }
            self.capture.append(
                Record(level: event.level, message: "\(event.message)", metadata: merged.mapValues { "\($0)" })
            )
        }
    }
}
