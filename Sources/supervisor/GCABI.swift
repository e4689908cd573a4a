import CSupervisor
import Glibc
import Platform
import SupervisorCore
import SystemPackage

@_cdecl("new_gchandler")
public func abi_new_gchandler() -> Int32 {
    do throws(SystemError) {
        try Engine.shared.initGC()
        return 0
    } catch {
        return ABI.fail("new_gchandler", error)
    }
}

@_cdecl("start_gchandler")
public func abi_start_gchandler() -> Int32 {
    do throws(SystemError) {
        try Engine.shared.startGC()
        return 0
    } catch {
        return ABI.fail("start_gchandler", error)
    }
}

@_cdecl("gc_restore")
public func abi_gc_restore() -> Int32 {
    do throws(SystemError) {
        _ = try Engine.shared.restoreGC()
        return 0
    } catch {
        return ABI.fail("gc_restore", error)
    }
}

@_cdecl("gc_add_container")
public func abi_gc_add_container(_ id: UnsafePointer<CChar>?, _ runtime: UnsafePointer<CChar>?,
                                 _ info: UnsafePointer<pid_ppid_info_t>?) -> Int32 {
    let name: String, runtimeName: String, pidInfo: PidInfo
    do throws(Errno) {
        name = try ABI.containerID(id)
        runtimeName = try ABI.runtime(runtime)
        guard let info else { throw Errno.invalidArgument }
        let v = info.pointee
        // GC entries may name processes that are already gone (pid 0).
        guard v.pid >= 0, v.ppid >= 0 else { throw Errno.invalidArgument }
        pidInfo = PidInfo(pid: v.pid, ppid: v.ppid, startTime: v.start_time, pstartTime: v.pstart_time)
    } catch {
        return ABI.fail("gc_add_container", error, id.map { String(cString: $0) } ?? "NULL")
    }
    do throws(SystemError) {
        try Engine.shared.addToGC(id: name, runtime: runtimeName, info: pidInfo)
        return 0
    } catch {
        return ABI.fail("gc_add_container", error, name)
    }
}

@_cdecl("gc_is_gc_progress")
public func abi_gc_is_gc_progress(_ id: UnsafePointer<CChar>?) -> Bool {
    guard let name = try? ABI.containerID(id) else { return false }
    return Engine.shared.isInGC(name)
}
