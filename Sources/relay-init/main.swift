import Orchestrator

// Synchronous on purpose: relay-init's main thread becomes its supervisor (see Supervisor),
// and must block its signals before any other thread exists.
RelayInit.main()
