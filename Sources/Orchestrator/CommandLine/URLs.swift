import RelayProtocol

/// The one URL type (and its parser) is RelayProtocol's; this name lets the orchestrator's
/// files and their tests use it with `import Orchestrator` alone.
public typealias EndpointURL = RelayProtocol.EndpointURL
