import CSupervisor
import SupervisorCore

@_cdecl("supervisor_version")
public func supervisor_version() -> UnsafePointer<CChar> {
    versionCString
}
