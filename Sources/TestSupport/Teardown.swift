/// Runs `body` with `resource`, then `teardown`, whether `body` returns or throws: the
/// `with { … }` of every test fixture that starts servers or builds a rig (async code has no
/// `defer` that can await).
public func withTeardown<Resource, T>(
    of resource: Resource, _ body: (Resource) async throws -> T, teardown: (Resource) async -> Void
) async throws -> T {
    do {
        let value = try await body(resource)
        await teardown(resource)
        return value
    } catch {
        await teardown(resource)
        throw error
    }
}
