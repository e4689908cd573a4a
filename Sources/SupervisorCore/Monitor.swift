import Glibc
import Platform

/// Fixed-size part of an armed exit monitor.
struct MonitorHeader {
    var info: PidInfo
    var fd: Int32
    /// Only touched by the epoll thread.
    var status: StatusAccumulator
    /// Guarded by the supervisor's table lock.
    var stopping: Bool
    /// A worker holds it (readable, being read); guarded by the table lock.
    var handedOff: Bool
    var runtime: UInt16
    var idLength: UInt16
}

/// One armed exit FIFO, in a single allocation: the header above with the
/// container id's bytes stored after it. Thousands are armed at once, so
/// this keeps a monitor (ids are 64 characters in iSulad) near 144 bytes
/// instead of an object plus a separately allocated string.
final class Monitor: ManagedBuffer<MonitorHeader, UInt8> {
    static func make(id: String, runtime: UInt16, info: PidInfo, fd: Int32) -> Monitor {
        let bytes = Array(id.utf8)
        let buffer = Monitor.create(minimumCapacity: bytes.count) { _ in
            MonitorHeader(info: info, fd: fd, status: StatusAccumulator(), stopping: false, handedOff: false,
                          runtime: runtime, idLength: UInt16(bytes.count))
        }
        let monitor = unsafeDowncast(buffer, to: Monitor.self)
        monitor.withUnsafeMutablePointerToElements { p in
            bytes.withUnsafeBufferPointer { p.initialize(from: $0.baseAddress!, count: $0.count) }
        }
        return monitor
    }

    var id: String {
        withUnsafeMutablePointers { h, e in
            String(decoding: UnsafeBufferPointer(start: e, count: Int(h.pointee.idLength)), as: UTF8.self)
        }
    }

    // Field-wise access through the header pointer: a worker updates
    // `status` while other threads read other fields (status JSON), so no
    // accessor may copy the whole header.
    var info: PidInfo { withUnsafeMutablePointerToHeader { $0.pointee.info } }
    var fd: Int32 { withUnsafeMutablePointerToHeader { $0.pointee.fd } }
    var runtime: UInt16 { withUnsafeMutablePointerToHeader { $0.pointee.runtime } }

    var stopping: Bool {
        get { withUnsafeMutablePointerToHeader { $0.pointee.stopping } }
        set { withUnsafeMutablePointerToHeader { $0.pointee.stopping = newValue } }
    }

    var handedOff: Bool {
        get { withUnsafeMutablePointerToHeader { $0.pointee.handedOff } }
        set { withUnsafeMutablePointerToHeader { $0.pointee.handedOff = newValue } }
    }

    /// Only the worker holding the monitor (handed off) calls this.
    func readStatus() -> StatusRead {
        withUnsafeMutablePointerToHeader { h in h.pointee.status.read(from: h.pointee.fd) }
    }

    func hasID(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        withUnsafeMutablePointers { h, e in
            Int(h.pointee.idLength) == bytes.count
                && (bytes.isEmpty || memcmp(e, bytes.baseAddress!, bytes.count) == 0)
        }
    }

    func hashID(into hasher: inout Hasher) {
        withUnsafeMutablePointers { h, e in
            hasher.combine(bytes: UnsafeRawBufferPointer(start: e, count: Int(h.pointee.idLength)))
        }
    }
}

/// A set element that identifies a monitor by its container id. A lookup
/// by id builds a short-lived probe monitor holding just the id.
struct MonitorKey: Hashable {
    let monitor: Monitor

    static func == (a: MonitorKey, b: MonitorKey) -> Bool {
        if a.monitor === b.monitor { return true }
        return b.monitor.withUnsafeMutablePointers { h, e in
            a.monitor.hasID(UnsafeBufferPointer(start: e, count: Int(h.pointee.idLength)))
        }
    }

    func hash(into hasher: inout Hasher) { monitor.hashID(into: &hasher) }

    static func probe(_ id: String) -> MonitorKey {
        MonitorKey(monitor: Monitor.make(id: id, runtime: 0, info: PidInfo(pid: 0, ppid: 0, startTime: 0, pstartTime: 0), fd: -1))
    }
}

/// Runtime names are few ("runc", "lcr", "kata-runtime"): monitors store a
/// small index instead of a string each.
struct RuntimeNames {
    private var names: [String] = []
    private var index: [String: UInt16] = [:]

    /// nil once 65,535 distinct names are in use.
    mutating func intern(_ name: String) -> UInt16? {
        if let i = index[name] { return i }
        guard names.count < Int(UInt16.max) else { return nil }
        let i = UInt16(names.count)
        names.append(name)
        index[name] = i
        return i
    }

    func name(_ i: UInt16) -> String { Int(i) < names.count ? names[Int(i)] : "" }
}
