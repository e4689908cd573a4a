import CSupervisor

extension Engine {
    /// SUPERVISOR_VERSION of Include/supervisor.h: the project's one version.
    public static let version: String = SUPERVISOR_VERSION
}
