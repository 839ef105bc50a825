import Foundation
import Logging
import Testing

@testable import RelayLogging

@Suite struct JSONLogHandlerTests {
    /// Parses one rendered line with Foundation's JSON parser: the handler must write valid JSON.
    private func object(_ line: [UInt8]) throws -> [String: Any] {
        #expect(line.last == UInt8(ascii: "\n"))
        #expect(line.dropLast().contains(UInt8(ascii: "\n")) == false, "one record, one line")
        return try #require(JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
    }

    @Test func fieldsAndMetadataAreTopLevel() throws {
        let line = JSONLogHandler.render(
            time: "2026-11-27T11:40:00.123Z", level: .debug, label: "relay-init", message: "tunnel closed",
            metadata: ["target": "example.com:443", "bytes_up": "517"]
        )
        #expect(
            String(decoding: line, as: UTF8.self)
                == #"{"time":"2026-11-27T11:40:00.123Z","level":"debug","logger":"relay-init","message":"tunnel closed","bytes_up":"517","target":"example.com:443"}"# + "\n"
        )
        let object = try self.object(line)
        #expect(object["target"] as? String == "example.com:443")
    }

    @Test func stringsAreEscaped() throws {
        let nasty = "quote \" backslash \\ newline \n tab \t cr \r bell \u{07} del \u{7F} é 🚀"
        let line = JSONLogHandler.render(time: "t", level: .info, label: "l", message: nasty, metadata: ["k\"ey": "\(nasty)"])
        let object = try self.object(line)
        #expect(object["message"] as? String == nasty)
        #expect(object["k\"ey"] as? String == nasty)
    }

    @Test func reservedKeysDoNotOverwriteTheRecord() throws {
        let object = try self.object(
            JSONLogHandler.render(time: "t", level: .warning, label: "l", message: "m", metadata: ["message": "meta", "level": "x"])
        )
        #expect(object["message"] as? String == "m")
        #expect(object["level"] as? String == "warning")
        #expect(object["_message"] as? String == "meta")
        #expect(object["_level"] as? String == "x")
    }

    @Test func nestedMetadataBecomesArraysAndObjects() throws {
        let object = try self.object(
            JSONLogHandler.render(
                time: "t", level: .info, label: "l", message: "m",
                metadata: ["list": ["a", "b"], "map": ["x": "1", "y": ["z"]], "number": .stringConvertible(42)]
            )
        )
        #expect(object["list"] as? [String] == ["a", "b"])
        let map = try #require(object["map"] as? [String: Any])
        #expect(map["x"] as? String == "1")
        #expect(map["y"] as? [String] == ["z"])
        #expect(object["number"] as? String == "42")
    }

    @Test func timestampsAreRFC3339UTCWithMilliseconds() {
        #expect(JSONLogHandler.format(seconds: 0, milliseconds: 0) == "1970-01-01T00:00:00.000Z")
        #expect(JSONLogHandler.format(seconds: 1_795_772_400, milliseconds: 7) == "2026-11-27T09:40:00.007Z")
        let now = JSONLogHandler.timestamp()
        #expect(now.count == 24)
        #expect(now.hasSuffix("Z"))
    }

    /// Through a real `Logger` into a pipe: level filtering, handler metadata, one line each.
    @Test func writesOneLinePerRecordToTheFileDescriptor() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        var logger = Logger(label: "relay-gateway") { label in JSONLogHandler(label: label, fileDescriptor: fds[1]) }
        logger.logLevel = .info
        logger[metadataKey: "session"] = "S1"
        logger.debug("not written")
        logger.info("listening", metadata: ["port": "8443"])
        logger.error("failed")
        close(fds[1])
        let output = FileHandle(fileDescriptor: fds[0]).readDataToEndOfFile()
        let lines = output.split(separator: UInt8(ascii: "\n"))
        #expect(lines.count == 2)
        let first = try #require(try JSONSerialization.jsonObject(with: Data(lines[0])) as? [String: Any])
        #expect(first["message"] as? String == "listening")
        #expect(first["logger"] as? String == "relay-gateway")
        #expect(first["port"] as? String == "8443")
        #expect(first["session"] as? String == "S1")
        let second = try #require(try JSONSerialization.jsonObject(with: Data(lines[1])) as? [String: Any])
        #expect(second["level"] as? String == "error")
    }

    @Test func formatAndLevelParsing() {
        #expect(LogFormat(parsing: "JSON") == .json)
        #expect(LogFormat(parsing: "text") == .text)
        #expect(LogFormat(parsing: "yaml") == nil)
        #expect(LogFormat.level(parsing: "TRACE") == .trace)
        #expect(LogFormat.level(parsing: "verbose") == nil)
    }
}
