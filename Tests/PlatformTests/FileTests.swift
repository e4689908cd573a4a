import Glibc
@testable import Platform
import SystemPackage
import Testing

@Suite(.serialized) struct FileTests {
    @Test func readAllReadsToEOFAndRefusesMoreThanTheLimit() throws {
        let dir = TempDir("readall")
        let path = dir.sub("f")
        let content = [UInt8](repeating: 0x61, count: 20_000)
        try AtomicFile.write(content, directory: dir.path, name: "f")
        let fd = try FileIO.open(path, O_RDONLY)
        defer { close(fd) }
        #expect(try FileIO.readAll(fd, limit: 20_000) == content)
        _ = lseek(fd, 0, SEEK_SET)
        #expect(throws: Errno.fileTooLarge) { _ = try FileIO.readAll(fd, limit: 19_999) }
    }

    @Test func kernelFileReadsProcAndNamesWhatFailed() throws {
        let stat = try KernelFile.read("/proc/self/stat")
        #expect(stat.contains(UInt8(ascii: ")")))
        #expect(try ProcStat.read(pid: getpid()).startTime > 0)
        #expect(throws: SystemError(.fileTooLarge, "read", path: "/proc/self/mountinfo")) {
            _ = try KernelFile.read("/proc/self/mountinfo", limit: 1)
        }
        #expect(throws: SystemError(.noSuchFileOrDirectory, "open", path: "/proc/self/no-such-file")) {
            _ = try KernelFile.read("/proc/self/no-such-file")
        }
    }

    @Test func kernelFileWriteIsOneWriteAndDoesNotFollowSymlinks() throws {
        let dir = TempDir("kwrite")
        let target = dir.sub("target")
        try AtomicFile.write([], directory: dir.path, name: "target")
        try KernelFile.write(target, "hello")
        #expect(try KernelFile.read(target) == Array("hello".utf8))
        #expect(symlink(target, dir.sub("link")) == 0)
        #expect(throws: SystemError(.tooManySymbolicLinkLevels, "open", path: dir.sub("link"))) {
            try KernelFile.write(dir.sub("link"), "x")
        }
    }

    @Test func atomicWriteReplacesWithExactModeAndLeavesNoTemporary() throws {
        let dir = TempDir("atomic")
        let old = umask(0o077)
        defer { umask(old) }
        try AtomicFile.write(Array("one".utf8), directory: dir.path, name: "f", mode: 0o640)
        try AtomicFile.write(Array("two".utf8), directory: dir.path, name: "f", mode: 0o640)
        #expect(try KernelFile.read(dir.sub("f")) == Array("two".utf8))
        #expect(fileMode(dir.sub("f")) == 0o640)
        #expect(names(in: dir.path) == ["f"])
        #expect(throws: SystemError(.invalidArgument, "write", path: "a/b")) {
            try AtomicFile.write([], directory: dir.path, name: "a/b")
        }
    }

    @Test func atomicWriteWithAFixedTemporaryAndFailpoints() throws {
        Failpoint.arm("test.atomic.rename=error:28*1")
        let dir = TempDir("atomicfp")
        let dirfd = try FileIO.open(dir.path, O_RDONLY | O_DIRECTORY)
        defer { close(dirfd) }
        try AtomicFile.write(Array("old".utf8), directoryFD: dirfd, name: "g", directoryPath: dir.path)
        // A stale temporary from a crash is replaced, not an error.
        try AtomicFile.write(Array("stale".utf8), directory: dir.path, name: "g.tmp")
        #expect(throws: SystemError(.noSpace, "rename", path: dir.sub("g"))) {
            try AtomicFile.write(Array("new".utf8), directoryFD: dirfd, name: "g", directoryPath: dir.path,
                                 temporaryName: "g.tmp", failpoints: "test.atomic")
        }
        #expect(try KernelFile.read(dir.sub("g")) == Array("old".utf8))
        #expect(names(in: dir.path) == ["g"])
        // The point fired once (*1): the next write goes through.
        try AtomicFile.write(Array("new".utf8), directoryFD: dirfd, name: "g", directoryPath: dir.path,
                             temporaryName: "g.tmp", failpoints: "test.atomic")
        #expect(try KernelFile.read(dir.sub("g")) == Array("new".utf8))
    }

    @Test func exitRecordRoundTrips() throws {
        let dir = TempDir("exitrec")
        let record = ExitRecord(exitCode: 143, signal: 15, pid: 42, startTime: 7, time: Timestamp.nowRFC3339())
        try record.write(stateDirectory: dir.path)
        #expect(try ExitRecord.read(stateDirectory: dir.path) == record)
        try ExitRecord.remove(stateDirectory: dir.path)
        #expect(throws: Errno.noSuchFileOrDirectory) { _ = try ExitRecord.read(stateDirectory: dir.path) }
    }

    @Test func fifoCreateNamesTheCallAndPath() throws {
        let dir = TempDir("fifo")
        try Fifo.create(at: dir.sub("ff"))
        try Fifo.create(at: dir.sub("ff"))  // an existing FIFO is fine
        let fd = try Fifo.openReadEnd(dir.sub("ff"))
        close(fd)
        try AtomicFile.write([], directory: dir.path, name: "file")
        #expect(throws: SystemError(.fileExists, "mkfifo", path: dir.sub("file"))) { try Fifo.create(at: dir.sub("file")) }
        #expect(throws: SystemError(.notDirectory, "mkfifo", path: dir.sub("file/x"))) { try Fifo.create(at: dir.sub("file/x")) }
    }
}
