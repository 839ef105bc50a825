import Foundation
import Testing
import TestSupport

/// Real tools behind relay-init, each reading the proxy and the CA bundle from the
/// variables relay-init exports (and from nothing else: minimal environments, no config).
@Suite(.timeLimit(.minutes(TestTime.minutes(1))))
struct ClientToolsEndToEndTests {
    /// `git clone` over dumb HTTP from the target's static files (GIT_SSL_CAINFO, https_proxy).
    @Test func gitCloneThroughRelayInit() async throws {
        let fixtures = try TemporaryDirectory(prefix: "relay-init-e2e-git")
        defer { fixtures.remove() }
        let home = fixtures.file("home")
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let gitEnvironment = ToolFixtures.gitEnvironment(home: home)
        let served = fixtures.file("static")
        let contents = "cloned through relay-init \(UUID().uuidString)\n"
        try await ToolFixtures.serveRepository(contents: contents, served: served, scratch: fixtures.path, environment: gitEnvironment)

        try await Stack.with(.init(staticRoot: served)) { stack in
            let clone = fixtures.file("clone")
            let environment = stack.environment(gitEnvironment)
            let result = try await stack.runRelayInit(
                command: ["git", "clone", "-q", stack.targetURL("/static/repo.git"), clone], environment: environment
            )
            #expect(result.status == 0, "\(stack.report(result))")
            #expect(readFile(clone + "/README.txt") == contents, "\(stack.report(result))")
        }
    }

    /// `pip download` from a PEP 503 index served by the target (PIP_CERT, https_proxy).
    @Test func pipDownloadThroughRelayInit() async throws {
        let python = try await Python.executable()
        let fixtures = try TemporaryDirectory(prefix: "relay-init-e2e-pip")
        defer { fixtures.remove() }
        let served = fixtures.file("static")
        let output = fixtures.file("downloads")
        let home = fixtures.file("home")
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        try await prepare(python, ["-c", Self.makeIndexScript, served + "/simple", Self.packageName, Self.packageVersion])

        try await Stack.with(.init(staticRoot: served)) { stack in
            let environment = stack.environment(ToolFixtures.pipVariables(home: home))
            let result = try await stack.runRelayInit(
                command: [
                    python, "-m", "pip", "download", "--no-deps", "--index-url", stack.targetURL("/static/simple/"),
                    "-d", output, Self.packageName,
                ],
                environment: environment
            )
            #expect(result.status == 0, "\(stack.report(result))")
            let wheel = output + "/\(Self.wheelName)"
            let expected = try Data(contentsOf: URL(fileURLWithPath: served + "/simple/\(Self.packageName)/\(Self.wheelName)"))
            #expect((try? Data(contentsOf: URL(fileURLWithPath: wheel))) == expected, "\(stack.report(result))")
        }
    }

    /// Python's requests with no arguments beyond the URL (REQUESTS_CA_BUNDLE, HTTPS_PROXY).
    @Test func pythonRequestsThroughRelayInit() async throws {
        let python = try await Python.executable()
        try await Stack.with { stack in
            let result = try await stack.runRelayInit(command: [
                python, "-c", "import requests; print(requests.get(\"\(stack.targetURL("/hello"))\").text, end=\"\")",
            ])
            #expect(result.status == 0, "\(stack.report(result))")
            #expect(result.stdout == "hello from target\n", "\(stack.report(result))")
        }
    }

    /// `npm install` of a tarball URL (NODE_EXTRA_CA_CERTS, https_proxy): the tool the
    /// spec's picture names. Node is not part of the base CI image, hence the condition.
    @Test(.enabled(if: Tools.which("npm") != nil, "npm is not installed"))
    func npmInstallThroughRelayInit() async throws {
        let fixtures = try TemporaryDirectory(prefix: "relay-init-e2e-npm")
        defer { fixtures.remove() }
        let source = fixtures.file("source/package")
        let served = fixtures.file("static")
        let home = fixtures.file("home")
        let prefix = fixtures.file("project")
        for directory in [source, served, home, prefix] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let marker = "hello from npm \(UUID().uuidString)"
        try #"{"name":"relay-demo","version":"1.0.0","main":"index.js"}"#.write(toFile: source + "/package.json", atomically: true, encoding: .utf8)
        try "module.exports = \"\(marker)\";\n".write(toFile: source + "/index.js", atomically: true, encoding: .utf8)
        try await prepare("tar", ["-C", fixtures.file("source"), "-czf", served + "/relay-demo-1.0.0.tgz", "package"])

        try await Stack.with(.init(staticRoot: served)) { stack in
            let environment = stack.environment([
                "HOME": home,
                "npm_config_cache": home + "/npm-cache",
                // No configuration but ours (files that do not exist: npm refuses /dev/null twice).
                "npm_config_userconfig": home + "/npmrc",
                "npm_config_globalconfig": home + "/npmrc-global",
                "NO_UPDATE_NOTIFIER": "1",
            ])
            let result = try await stack.runRelayInit(
                command: [
                    "npm", "install", "--no-save", "--no-audit", "--no-fund", "--no-package-lock", "--prefix", prefix,
                    stack.targetURL("/static/relay-demo-1.0.0.tgz"),
                ],
                environment: environment
            )
            #expect(result.status == 0, "\(stack.report(result))")
            #expect(readFile(prefix + "/node_modules/relay-demo/index.js")?.contains(marker) == true, "\(stack.report(result))")
        }
    }

    static let packageName = "relaydemo"
    static let packageVersion = "1.0"
    static var wheelName: String { "\(packageName)-\(packageVersion)-py3-none-any.whl" }

    /// Writes a valid pure-Python wheel (METADATA, WHEEL, RECORD with hashes) and a PEP 503
    /// simple index for it: `ROOT/index.html`, `ROOT/NAME/index.html` → `ROOT/NAME/WHEEL`.
    static let makeIndexScript = #"""
        import base64, hashlib, os, sys, zipfile
        root, name, version = sys.argv[1], sys.argv[2], sys.argv[3]
        dist_info = f"{name}-{version}.dist-info"
        files = {
            f"{name}/__init__.py": b"GREETING = 'hello from a wheel'\n",
            f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: relay-init test package\n".encode(),
            f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: relay-init-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        }
        def digest(data):
            return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record = "".join(f"{path},{digest(data)},{len(data)}\n" for path, data in files.items())
        record += f"{dist_info}/RECORD,,\n"
        files[f"{dist_info}/RECORD"] = record.encode()
        os.makedirs(os.path.join(root, name), exist_ok=True)
        wheel = f"{name}-{version}-py3-none-any.whl"
        wheel_path = os.path.join(root, name, wheel)
        with zipfile.ZipFile(wheel_path, "w", zipfile.ZIP_DEFLATED) as archive:
            for path, data in files.items():
                archive.writestr(path, data)
        with open(wheel_path, "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()
        with open(os.path.join(root, "index.html"), "w") as f:
            f.write(f'<!DOCTYPE html>\n<html><body><a href="{name}/">{name}</a></body></html>\n')
        with open(os.path.join(root, name, "index.html"), "w") as f:
            f.write(f'<!DOCTYPE html>\n<html><body><a href="{wheel}#sha256={sha}">{wheel}</a></body></html>\n')
        """#
}
