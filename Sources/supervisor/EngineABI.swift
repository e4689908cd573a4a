import Diagnostics
import CPlatform
import CSupervisor
import Cleaner
import Glibc
import Platform
import SupervisorCore
import SystemPackage

/// The engine's ctx pointer, handed back untouched on every hook call.
private struct HookContext: @unchecked Sendable {
    let raw: UnsafeMutableRawPointer?
}

/// Wraps the C hooks of `ops` as Swift closures; NULL members stay defaults.
private func hooks(from ops: supervisor_engine_ops_t) -> Hooks {
    let ctx = HookContext(raw: ops.ctx)
    var h = Hooks()
    if let f = ops.process_alive {
        h.processAlive = { id, runtime, pid, start in
            id.withCString { i in runtime.withCString { r in f(ctx.raw, i, r, pid, start) } }
        }
    }
    if let f = ops.kill_process {
        h.killProcess = { id, runtime, pid, start, sig in
            id.withCString { i in runtime.withCString { r in f(ctx.raw, i, r, pid, start, sig) } }
        }
    }
    if let f = ops.clean_resource {
        h.cleanResource = { id, runtime, pid in
            id.withCString { i in runtime.withCString { r in f(ctx.raw, i, r, pid) } }
        }
    }
    if let f = ops.container_stopped {
        h.containerStopped = { id, pid, code in id.withCString { f(ctx.raw, $0, pid, code) } }
    }
    if let f = ops.gc_done {
        h.gcDone = { id in id.withCString { f(ctx.raw, $0) } }
    }
    if let f = ops.resume {
        h.resume = { id, runtime in id.withCString { i in runtime.withCString { r in f(ctx.raw, i, r) } } }
    }
    if let f = ops.log {
        h.log = { level, message in message.withCString { f(ctx.raw, level.rawValue, $0) } }
    }
    return h
}

@_cdecl("supervisor_set_engine_ops")
public func abi_supervisor_set_engine_ops(_ ops: UnsafePointer<supervisor_engine_ops_t>?) -> Int32 {
    guard let ops else {
        Engine.shared.setHooks(Hooks())
        return 0
    }
    // Smaller than this header's struct: an ABI we cannot read safely.
    // Larger: a newer header; the fields we know are at the same offsets.
    let size = ops.pointee.struct_size
    guard size >= MemoryLayout<supervisor_engine_ops_t>.size else {
        return ABI.fail("supervisor_set_engine_ops", Errno.invalidArgument,
                        "struct_size \(size) < \(MemoryLayout<supervisor_engine_ops_t>.size)")
    }
    Engine.shared.setHooks(hooks(from: ops.pointee))
    return 0
}

@_cdecl("supervisor_set_option")
public func abi_supervisor_set_option(_ key: UnsafePointer<CChar>?, _ value: UnsafePointer<CChar>?) -> Int32 {
    do throws(Errno) {
        let k = try ABI.string(key)
        guard let value else { throw Errno.invalidArgument }
        guard strnlen(value, Int(PATH_MAX)) < Int(PATH_MAX) else { throw Errno.fileNameTooLong }
        try Engine.shared.setOption(k, String(cString: value))
        return 0
    } catch {
        return ABI.fail("supervisor_set_option", error, key.map { String(cString: $0) } ?? "NULL")
    }
}

@_cdecl("supervisor_track_resource")
public func abi_supervisor_track_resource(_ id: UnsafePointer<CChar>?, _ kind: supervisor_resource_kind_t,
                                          _ value: UnsafePointer<CChar>?) -> Int32 {
    do throws(Errno) {
        let name = try ABI.containerID(id)
        guard let k = ResourceKind(rawValue: Int32(bitPattern: kind.rawValue)) else { throw Errno.invalidArgument }
        let v = try ABI.string(value)
        try Engine.shared.trackResource(id: name, kind: k, value: v)
        return 0
    } catch {
        return ABI.fail("supervisor_track_resource", error, value.map { String(cString: $0) } ?? "NULL")
    }
}

@_cdecl("supervisor_exit_record")
public func abi_supervisor_exit_record(_ dir: UnsafePointer<CChar>?, _ exitCode: UnsafeMutablePointer<Int32>?) -> Int32 {
    do throws(Errno) {
        guard let exitCode else { throw Errno.invalidArgument }
        let record = try ExitRecord.read(stateDirectory: try ABI.string(dir))
        exitCode.pointee = record.exitCode
        return 0
    } catch {
        if error == .noSuchFileOrDirectory {
            // Expected after a crash before the shim finished: not an error line.
            Log.direct(.info, "supervisor_exit_record: no exit record in \(dir.map { String(cString: $0) } ?? "NULL")")
            cp_set_errno(ENOENT)
            return -1
        }
        return ABI.fail("supervisor_exit_record", error, dir.map { String(cString: $0) } ?? "NULL")
    }
}
