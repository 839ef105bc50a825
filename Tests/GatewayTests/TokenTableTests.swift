import Gateway
import Testing

@Suite struct TokenTableTests {
    @Test func parsesEntriesSplittingAtTheFirstColon() throws {
        let entry = try TokenTable.parseEntry("session-1:to:ken")
        #expect(entry.session == "session-1")
        #expect(entry.token == "to:ken")
    }

    @Test func parsesAFileWithCommentsAndBlankLines() throws {
        let file = """
            # sessions for the staging cluster
            alpha:token-a

              beta : token-b\r
              # indented comment
            """
        let entries = try TokenTable.parseFile(contents: file)
        #expect(entries.map(\.session) == ["alpha", "beta"])
        #expect(entries.map(\.token) == ["token-a", "token-b"])
    }

    @Test func reportsTheLineOfABadEntry() {
        #expect(throws: TokenTableError.malformedEntry(line: 3)) {
            try TokenTable.parseFile(contents: "# header\nalpha:a\nno-colon-here\n")
        }
        #expect(throws: TokenTableError.malformedEntry(line: nil)) { try TokenTable.parseEntry(":token") }
        #expect(throws: TokenTableError.malformedEntry(line: nil)) { try TokenTable.parseEntry("session:") }
        #expect(throws: TokenTableError.invalidCharacters(session: "s", line: nil)) { try TokenTable.parseEntry("s:tok en") }
    }

    @Test func rejectsDuplicateSessionsAndAnEmptyTable() {
        #expect(throws: TokenTableError.duplicateSession("a")) {
            try TokenTable.merge([("a", "1"), ("b", "2"), ("a", "3")])
        }
        #expect(throws: TokenTableError.empty) { try TokenTable([:]) }
    }

    @Test func findsTheSessionOfAToken() throws {
        let table = try TokenTable(["alpha": "token-a", "beta": "token-b"])
        #expect(table.session(forToken: "token-a") == "alpha")
        #expect(table.session(forToken: "token-b") == "beta")
        #expect(table.session(forToken: "token-c") == nil)
        #expect(table.session(forToken: "token-") == nil)
        #expect(table.session(forToken: "token-aa") == nil)
        #expect(table.session(forToken: "") == nil)
        #expect(table.isValid(session: "alpha", token: "token-a"))
        #expect(!table.isValid(session: "alpha", token: "token-b"))
        #expect(!table.isValid(session: "gamma", token: "token-a"))
    }

    @Test func constantTimeEqualsIsEquality() {
        let secret = Array("s3cret".utf8)
        #expect(TokenTable.constantTimeEquals(Array("s3cret".utf8), secret))
        #expect(!TokenTable.constantTimeEquals(Array("s3creT".utf8), secret))
        #expect(!TokenTable.constantTimeEquals(Array("s3cre".utf8), secret))
        #expect(!TokenTable.constantTimeEquals(Array("s3crets3cret".utf8), secret))
        #expect(!TokenTable.constantTimeEquals([], secret))
        #expect(TokenTable.constantTimeEquals([], []))
    }

    @Test func basicCredentialsRoundTrip() throws {
        let credentials = BasicCredentials(session: "alpha", token: "to:ken")
        #expect(credentials.headerValue == "Basic YWxwaGE6dG86a2Vu")
        #expect(BasicCredentials(headerValue: credentials.headerValue) == credentials)
        #expect(BasicCredentials(headerValue: "basic  YWxwaGE6dG86a2Vu") == credentials)
        #expect(BasicCredentials(headerValue: "Bearer YWxwaGE6dG86a2Vu") == nil)
        #expect(BasicCredentials(headerValue: "Basic !!!") == nil)
        #expect(BasicCredentials(headerValue: "Basic bm9jb2xvbg==") == nil)  // "nocolon"
    }
}
