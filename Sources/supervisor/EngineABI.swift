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

/// The 1.0 struct ends where `container_oom` begins: an engine built
/// against 1.0 passes this size, and nothing past it is read.
private let opsSize1_0 = MemoryLayout<supervisor_engine_ops_t>.offset(of: \.container_oom)!

/// Whether the engine's struct (of `size` bytes) holds the member at `offset`.
private func covers(_ size: Int, _ offset: Int?) -> Bool {
    guard let offset else { return false }
    return size >= offset + MemoryLayout<UnsafeRawPointer>.size
}

/// Wraps the C hooks of `ops` as Swift closures; NULL members stay defaults.
/// Members past `size` (an engine built against an older header) are never
/// read: the copy below reads only the 1.0 part of such a struct.
private func hooks(from ops: supervisor_engine_ops_t, size: Int) -> Hooks {
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
    if covers(size, MemoryLayout<supervisor_engine_ops_t>.offset(of: \.container_oom)), let f = ops.container_oom {
        h.containerOOM = { id, count in id.withCString { f(ctx.raw, $0, count) } }
    }
    return h
}

@_cdecl("supervisor_set_engine_ops")
public func abi_supervisor_set_engine_ops(_ ops: UnsafePointer<supervisor_engine_ops_t>?) -> Int32 {
    guard let ops else {
        Engine.shared.setHooks(Hooks())
        return 0
    }
    // Smaller than the 1.0 struct: an ABI we cannot read safely. Between
    // 1.0 and this header: an older engine; only what it has is read.
    // Larger: a newer header; the fields we know are at the same offsets.
    let size = ops.pointee.struct_size
    guard size >= opsSize1_0 else {
        return ABI.fail("supervisor_set_engine_ops", Errno.invalidArgument,
                        "struct_size \(size) < \(opsSize1_0)")
    }
    var copy = supervisor_engine_ops_t()
    let known = min(size, MemoryLayout<supervisor_engine_ops_t>.size)
    withUnsafeMutableBytes(of: &copy) { dst in
        dst.copyMemory(from: UnsafeRawBufferPointer(start: UnsafeRawPointer(ops), count: known))
    }
    Engine.shared.setHooks(hooks(from: copy, size: size))
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
            Glibc.errno = ENOENT
            return -1
        }
        return ABI.fail("supervisor_exit_record", error, dir.map { String(cString: $0) } ?? "NULL")
    }
}
