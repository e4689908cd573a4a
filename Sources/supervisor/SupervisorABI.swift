import CPlatform
import CSupervisor
import Glibc
import Platform
import SupervisorCore
import SystemPackage

@_cdecl("new_supervisor")
public func abi_new_supervisor() -> Int32 {
    do throws(SystemError) {
        try Engine.shared.startSupervisor()
        return 0
    } catch {
        return ABI.fail("new_supervisor", error)
    }
}

@_cdecl("container_supervisor_add_exit_monitor")
public func abi_container_supervisor_add_exit_monitor(_ fd: Int32, _ info: UnsafePointer<pid_ppid_info_t>?,
                                                      _ name: UnsafePointer<CChar>?, _ runtime: UnsafePointer<CChar>?) -> Int32 {
    do throws(Errno) {
        guard fd >= 0 else { throw Errno.invalidArgument }
        // A closed fd is EBADF, not a bad argument of another kind.
        guard fcntl(fd, F_GETFD) != -1 else { throw Errno.badFileDescriptor }
        let id = try ABI.containerID(name)
        let runtime = try ABI.runtime(runtime)
        let pidInfo = try ABI.pidInfo(info)
        try Engine.shared.armExitMonitor(fd: fd, info: pidInfo, id: id, runtime: runtime)
        return 0
    } catch {
        return ABI.fail("container_supervisor_add_exit_monitor", error, name.map { String(cString: $0) } ?? "NULL")
    }
}

@_cdecl("supervisor_container_state")
public func abi_supervisor_container_state(_ name: UnsafePointer<CChar>?) -> supervisor_state_t {
    guard let id = try? ABI.containerID(name) else { return SUPERVISOR_STATE_NONE }
    return supervisor_state_t(rawValue: UInt32(Engine.shared.state(of: id).rawValue))
}

@_cdecl("supervisor_status_json")
public func abi_supervisor_status_json() -> UnsafeMutablePointer<CChar>? {
    guard let out = ABI.mallocBytes(Engine.shared.statusJSON()) else {
        return ABI.failNull("supervisor_status_json", Errno.noMemory)
    }
    return out
}

@_cdecl("supervisor_shutdown")
public func abi_supervisor_shutdown() -> Int32 {
    do throws(SystemError) {
        try Engine.shared.shutdown()
        return 0
    } catch {
        return ABI.fail("supervisor_shutdown", error)
    }
}

/// SUPERVISOR_VERSION as a C string that lives as long as the library
/// (a global: initialised once, thread-safely, on first use; never written
/// after, hence safe to share).
nonisolated(unsafe) private let versionCString: UnsafePointer<CChar> = {
    let bytes = Engine.version.utf8CString
    let p = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count)
    bytes.withUnsafeBufferPointer { p.initialize(from: $0.baseAddress!, count: bytes.count) }
    return UnsafePointer(p)
}()

@_cdecl("supervisor_version")
public func abi_supervisor_version() -> UnsafePointer<CChar> {
    versionCString
}
