import Gateway

// The whole command (options, checks, signals, the service) is in the Gateway target.
@main extension RelayGatewayCommand {}
