import CPlatform
import Glibc
import SystemPackage

/// The shim's note of how a container ended, left in its state directory as
/// `exit.json` before the status goes to the exit FIFO, so an engine that was
/// down at that moment still learns the real status later.
///
///     {"exit_code":143,"signal":15,"pid":4242,"start_time":123456,"time":"…Z"}
public struct ExitRecord: Sendable, Equatable {
    public static let fileName = "exit.json"
    /// A record is about 120 bytes; anything much larger is not ours.
    public static let maxSize = 4096

    /// 0…255: the exit code, or 128+signal when killed.
    public var exitCode: Int32
    /// The killing signal (1…64), 0 when the process exited.
    public var signal: Int32
    public var pid: Int32
    /// /proc/<pid>/stat field 22 of the container process (clock ticks).
    public var startTime: UInt64
    /// RFC 3339 UTC with nanoseconds.
    public var time: String

    public init(exitCode: Int32, signal: Int32, pid: Int32, startTime: UInt64, time: String) {
        self.exitCode = exitCode
        self.signal = signal
        self.pid = pid
        self.startTime = startTime
        self.time = time
    }

    public func serialized() -> [UInt8] {
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

    /// Writes `<stateDirectory>/exit.json` atomically (mode 0600, fsynced).
    public func write(stateDirectory: String) throws(Errno) {
        do throws(SystemError) {
            try AtomicFile.write(serialized(), directory: stateDirectory, name: Self.fileName, mode: 0o600)
        } catch { throw error.errno }
    }

    /// Removes a stale record; a missing one is fine.
    public static func remove(stateDirectory: String) throws(Errno) {
        let dirfd: Int32
        do throws(SystemError) { dirfd = try FileIO.open(stateDirectory, O_RDONLY | O_DIRECTORY) } catch { throw error.errno }
        defer { close(dirfd) }
        if unlinkat(dirfd, fileName, 0) != 0 && errno != ENOENT { throw Errno(rawValue: errno) }
    }

    /// Reads and validates `<stateDirectory>/exit.json`. ENOENT when the
    /// directory or the record is missing; EINVAL when the record is damaged,
    /// out of range, too large, not a regular file, or a symlink (neither the
    /// directory's last component nor the record is followed).
    public static func read(stateDirectory: String) throws(Errno) -> ExitRecord {
        guard !stateDirectory.isEmpty else { throw Errno.invalidArgument }
        let dirfd: Int32
        do throws(SystemError) { dirfd = try FileIO.open(stateDirectory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) } catch {
            throw mapOpenError(error.errno)
        }
        defer { close(dirfd) }
        let fd: Int32
        do throws(SystemError) { fd = try FileIO.open(at: dirfd, fileName, O_RDONLY | O_NOFOLLOW | O_NONBLOCK) } catch {
            throw mapOpenError(error.errno)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw Errno(rawValue: errno) }
        guard st.st_mode & S_IFMT == S_IFREG, st.st_size <= maxSize else { throw Errno.invalidArgument }
        let bytes: [UInt8]
        do throws(Errno) { bytes = try FileIO.readAll(fd, limit: maxSize) } catch {
            throw error == .fileTooLarge ? Errno.invalidArgument : error
        }
        guard let record = parse(bytes) else { throw Errno.invalidArgument }
        return record
    }

    /// A symlink where the directory or record should be reads as damaged.
    private static func mapOpenError(_ e: Errno) -> Errno {
        switch e {
        case .tooManySymbolicLinkLevels, .notDirectory, .noSuchAddressOrDevice, .isDirectory: return Errno.invalidArgument
        default: return e
        }
    }

    /// nil for anything that is not a complete, in-range record (the parser
    /// refuses comments and nesting deeper than `JSON.maxDepth`).
    public static func parse(_ bytes: [UInt8]) -> ExitRecord? {
        guard let doc = try? JSON.parse(bytes), case .object = doc else { return nil }
        guard let code = doc["exit_code"]?.int64Value, (0...255).contains(code),
              let sig = doc["signal"]?.int64Value, (0...64).contains(sig),
              let pid = doc["pid"]?.int64Value, (0...Int64(Int32.max)).contains(pid),
              let start = doc["start_time"]?.uint64Value,
              let time = doc["time"]?.stringValue, !time.isEmpty, time.utf8.count <= 64
        else { return nil }
        // A signal death is always reported as 128+signal.
        if sig != 0 && code != 128 + sig { return nil }
        return ExitRecord(exitCode: Int32(code), signal: Int32(sig), pid: Int32(pid),
                          startTime: start, time: time)
    }
}
