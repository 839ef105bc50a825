import Foundation
import Testing
import TestSupport

/// The target seen through real clients: curl (OpenSSL) and Python's ssl.
@Suite struct HTTPSTargetTests {
    @Test func helloOverVerifiedTLS() async throws {
        try await TargetFixture.with { fixture in
            let result = try await fixture.curl(["--cacert", fixture.caPath, fixture.target.url("/hello", host: "localhost")])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == "hello from target\n")
        }
    }

    @Test func certificateIsRejectedWithoutTheTestCA() async throws {
        try await TargetFixture.with { fixture in
            let result = try await fixture.curl([fixture.target.url("/hello", host: "localhost")])
            #expect(result.status == 60, "curl: \(result.stderr)")
        }
    }

    @Test func ipAddressSANIsAccepted() async throws {
        try await TargetFixture.with { fixture in
            let result = try await fixture.curl(["--cacert", fixture.caPath, fixture.target.url("/hello", host: "127.0.0.1")])
            #expect(result.stdout == "hello from target\n", "\(result.stderr)")
        }
    }

    @Test(.enabled(if: Tools.which("python3") != nil, "needs python3"))
    func pythonStrictVerificationAccepts() async throws {
        try await TargetFixture.with { fixture in
            let script = """
                import ssl, sys, urllib.request
                context = ssl.create_default_context(cafile=sys.argv[1])
                context.verify_flags |= ssl.VERIFY_X509_STRICT
                sys.stdout.write(urllib.request.urlopen(sys.argv[2], context=context).read().decode())
                """
            let result = try await TestProcess.run(
                "python3", ["-c", script, fixture.caPath, fixture.target.url("/hello", host: "localhost")],
                environment: TestProcess.minimalEnvironment(), timeout: .seconds(20)
            )
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == "hello from target\n")
        }
    }

    @Test func bytesBodyMatchesTheDocumentedContent() async throws {
        try await TargetFixture.with { fixture in
            let count = 1_048_576
            let output = fixture.directory.file("bytes.bin")
            let result = try await fixture.curl([
                "--cacert", fixture.caPath, "--output", output, fixture.target.url("/bytes/\(count)", host: "localhost"),
            ])
            #expect(result.status == 0, "\(result.stderr)")
            let body = try Data(contentsOf: URL(fileURLWithPath: output))
            #expect(body.count == count)
            #expect(TestDigest.sha256Hex(body) == HTTPSTarget.expectedSHA256(count: count))
            #expect(Array(body.prefix(1000)) == HTTPSTarget.expectedBytes(count: 1000))
        }
    }

    @Test func uploadIsHashedAndCounted() async throws {
        try await TargetFixture.with { fixture in
            // From a random point of the stream, so the hash cannot be right by accident.
            let upload = Data(DeterministicBytes.bytes(count: 1_048_576, offset: Int.random(in: 0..<(1 << 40))))
            let path = fixture.directory.file("upload.bin")
            try upload.write(to: URL(fileURLWithPath: path))
            let url = fixture.target.url("/sha256", host: "localhost")

            let post = try await fixture.curl(["--cacert", fixture.caPath, "--data-binary", "@\(path)", url])
            #expect(post.stdout == "\(TestDigest.sha256Hex(upload)) 1048576\n", "\(post.stderr)")

            let put = try await fixture.curl(["--cacert", fixture.caPath, "--upload-file", path, url])
            #expect(put.stdout == "\(TestDigest.sha256Hex(upload)) 1048576\n", "\(put.stderr)")
        }
    }

    @Test func staticFilesDirectoriesAndMisses() async throws {
        let staticRoot: (TemporaryDirectory) throws -> String = { directory in
            let root = directory.file("www")
            try FileManager.default.createDirectory(atPath: root + "/simple/pkg", withIntermediateDirectories: true)
            try "<a href=\"pkg/\">pkg</a>\n".write(toFile: root + "/simple/index.html", atomically: true, encoding: .utf8)
            try "ref: refs/heads/main\n".write(toFile: root + "/HEAD", atomically: true, encoding: .utf8)
            try "secret\n".write(toFile: directory.file("outside.txt"), atomically: true, encoding: .utf8)
            return root
        }
        try await TargetFixture.with(staticRoot: staticRoot) { fixture in
            let ca = ["--cacert", fixture.caPath]
            func url(_ path: String) -> String { fixture.target.url(path, host: "localhost") }

            // git's first dumb-protocol request carries a query, which must not matter.
            let file = try await fixture.curl(ca + ["--fail", url("/static/HEAD?service=git-upload-pack")])
            #expect(file.stdout == "ref: refs/heads/main\n", "\(file.stderr)")

            let index = try await fixture.curl(ca + ["--fail", url("/static/simple/")])
            #expect(index.stdout == "<a href=\"pkg/\">pkg</a>\n", "\(index.stderr)")

            let redirect = try await fixture.curl(ca + ["--output", "/dev/null", "--write-out", "%{http_code} %{redirect_url}", url("/static/simple")])
            #expect(redirect.stdout == "301 \(url("/static/simple/"))")

            for missing in ["/static/nope.txt", "/static/../outside.txt", "/static/%2e%2e/outside.txt", "/static/simple/pkg/", "/elsewhere"] {
                let miss = try await fixture.curl(ca + ["--path-as-is", "--output", "/dev/null", "--write-out", "%{http_code}", url(missing)])
                #expect(miss.stdout == "404", "\(missing)")
            }
        }
    }

    @Test func keepAliveServesSeveralRequestsOnOneConnection() async throws {
        try await TargetFixture.with { fixture in
            let url = fixture.target.url("/hello", host: "localhost")
            let result = try await fixture.curl(["--cacert", fixture.caPath, "--verbose", url, url, url])
            #expect(result.stdout == String(repeating: "hello from target\n", count: 3))
            #expect(result.stderr.contains("Re-using existing connection"), "\(result.stderr)")
        }
    }

    @Test func plainHTTPWhenNoCertificate() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let target = try await HTTPSTarget.start(tls: nil)
        let output = directory.file("body.bin")
        let result = try await TestProcess.run(
            "curl", ["--silent", "--show-error", "--output", output, target.url("/bytes/100000")],
            environment: TestProcess.minimalEnvironment(), timeout: .seconds(20)
        )
        await target.shutdown()
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: output)) == Data(HTTPSTarget.expectedBytes(count: 100_000)))
    }
}
