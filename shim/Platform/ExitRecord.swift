import CShim

/// The shim's note of how the container ended, `exit.json` in the state
/// directory, written before the status goes to the exit FIFO. The library
/// reads it (supervisor_exit_record); the two sides are tested together
/// from C (Tests/shim, shim_io_exit_record_contract):
///
///     {"exit_code":143,"signal":15,"pid":4242,"start_time":123456,"time":"…Z"}
struct ExitRecord {
    static let fileName = "exit.json"

    var exitCode: Int32
    var signal: Int32
    var pid: Int32
    /// /proc/<pid>/stat field 22 of the container process (clock ticks).
    var startTime: UInt64
    var time: String

    func serialized() -> [UInt8] {
        let w = JSONWriter()
        w.mapOpen()
        w.key("exit_code"); w.int(Int64(exitCode))
        w.key("signal"); w.int(Int64(signal))
        w.key("pid"); w.int(Int64(pid))
        w.key("start_time"); w.uint(startTime)
        w.key("time"); w.string(time)
        w.mapClose()
        return w.finish()
    }

    func write(stateDirectory: String) throws(Errno) {
        try AtomicFile.write(serialized(), directory: stateDirectory, name: Self.fileName, mode: 0o600)
    }

    /// Removes a stale record; a missing one is fine.
    static func remove(stateDirectory: String) throws(Errno) {
        let dir = try FD(open: stateDirectory, O_RDONLY | O_DIRECTORY)
        if unlinkat(dir.raw, fileName, 0) != 0 && cs_errno() != ENOENT { throw Errno.current }
    }
}
