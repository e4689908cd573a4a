import Glibc
import Platform
import Testing
@testable import Cleaner

@Suite(.serialized) struct TreeRemovalTests {
    @Test func removesATreeWithoutFollowingSymlinks() throws {
        let s = Scratch("tree")
        let outside = s.sub("outside")
        #expect(makeDir(outside) && writeFile(outside + "/keep", "precious"))
        let t = s.sub("t")
        #expect(makeDir(t) && makeDir(t + "/a") && makeDir(t + "/a/b") && writeFile(t + "/a/b/f"))
        #expect(writeFile(t + "/top"))
        #expect(symlink(outside + "/keep", t + "/a/file-link") == 0)
        #expect(symlink(outside, t + "/a/b/dir-link") == 0)
        #expect(symlink("/", t + "/root-link") == 0)
        #expect(mkfifo(t + "/fifo", 0o600) == 0)
        #expect(release(BuiltinCleaner(), .path, t) == .released)
        #expect(!exists(t))
        #expect(exists(outside + "/keep"))
        #expect(exists("/etc"))
        #expect(release(BuiltinCleaner(), .path, t) == .released)  // ENOENT is done
    }

    @Test func aValueWithDotsAndSlashesIsRemoved() throws {
        let s = Scratch("dots")
        #expect(makeDir(s.sub("t")) && makeDir(s.sub("t/u")) && writeFile(s.sub("t/u/f")))
        #expect(release(BuiltinCleaner(), .path, s.path + "//t/./u/.") == .released)
        #expect(!exists(s.sub("t/u")) && exists(s.sub("t")))
        #expect(release(BuiltinCleaner(), .path, s.sub("t/")) == .released)
        #expect(!exists(s.sub("t")))
    }

    @Test func aSymlinkAsTheTopIsUnlinkedNotFollowed() throws {
        let s = Scratch("toplink")
        #expect(makeDir(s.sub("target")) && writeFile(s.sub("target/f")))
        #expect(symlink(s.sub("target"), s.sub("link")) == 0)
        #expect(release(BuiltinCleaner(), .path, s.sub("link")) == .released)
        #expect(!exists(s.sub("link")) && exists(s.sub("target/f")))
        #expect(release(BuiltinCleaner(), .path, s.sub("target/f")) == .released)
        #expect(!exists(s.sub("target/f")))
    }

    /// Issue 9: `<dir>/t2/link/sub` with t2/link a symlink to a directory
    /// outside: nothing behind the link is removed, and it counts as released.
    @Test func aSymlinkInAMiddleComponentIsNotFollowed() throws {
        let s = Scratch("midlink")
        let outside = s.sub("outside")
        #expect(makeDir(outside) && makeDir(outside + "/sub") && writeFile(outside + "/sub/victim"))
        #expect(makeDir(s.sub("t2")) && symlink(outside, s.sub("t2/link")) == 0)
        #expect(release(BuiltinCleaner(), .path, s.sub("t2/link/sub")) == .released)
        #expect(exists(outside + "/sub/victim") && exists(s.sub("t2/link")))
        // A symlink two levels up, and a file in the middle: nothing there either.
        #expect(release(BuiltinCleaner(), .path, s.sub("t2/link/sub/victim")) == .released)
        #expect(exists(outside + "/sub/victim"))
        #expect(writeFile(s.sub("file")))
        #expect(release(BuiltinCleaner(), .path, s.sub("file/x")) == .released)
        #expect(exists(s.sub("file")))
    }

    @Test(arguments: [true, false])
    func theParentIsResolvedWithoutSymlinks(openat2: Bool) throws {
        let s = Scratch("resolve")
        #expect(makeDir(s.sub("d")) && makeDir(s.sub("d/e")) && writeFile(s.sub("f")))
        #expect(symlink(s.sub("d"), s.sub("l")) == 0)
        func open(_ p: String) -> (Int32, Int32) {
            TreeRemoval.openDirectoryNoSymlinks(ArraySlice(p.split(separator: "/").map(String.init)), openat2: openat2)
        }
        let (fd, e) = open(s.sub("d/e"))
        #expect(fd >= 0 && e == 0)
        if fd >= 0 { close(fd) }
        // O_NOFOLLOW|O_DIRECTORY on a symlink is ENOTDIR, openat2 says ELOOP.
        #expect([ELOOP, ENOTDIR].contains(open(s.sub("l")).1))
        #expect([ELOOP, ENOTDIR].contains(open(s.sub("l/e")).1))
        #expect(open(s.sub("f")).1 == ENOTDIR)
        #expect(open(s.sub("missing/x")).1 == ENOENT)
    }

    @Test func aBindMountInsideIsNotDescendedInto() throws {
        let s = Scratch("bind")
        let host = s.sub("host")
        #expect(makeDir(host) && writeFile(host + "/data", "host data"))
        let t = s.sub("t")
        #expect(makeDir(t) && makeDir(t + "/d") && makeDir(t + "/d/mnt") && writeFile(t + "/d/file"))
        // Same filesystem, same st_dev: only the mount id tells them apart.
        #expect(bindMount(host, t + "/d/mnt"))
        let outcome = release(BuiltinCleaner(), .path, t)
        #expect(outcome.isRetry)
        #expect(exists(host + "/data"))
        #expect(exists(t + "/d/mnt/data"))
        #expect(!exists(t + "/d/file"))
        #expect(unmount(t + "/d/mnt"))
        #expect(release(BuiltinCleaner(), .path, t) == .released)
        #expect(!exists(t) && exists(host + "/data"))
    }

    @Test func anotherFilesystemInsideIsLeftAlone() throws {
        let s = Scratch("tmpfsin")
        let t = s.sub("t")
        #expect(makeDir(t) && makeDir(t + "/m") && mountTmpfs(t + "/m") && writeFile(t + "/m/x"))
        #expect(release(BuiltinCleaner(), .path, t).isRetry)
        #expect(exists(t + "/m/x"))
        #expect(unmount(t + "/m"))
        #expect(release(BuiltinCleaner(), .path, t) == .released)
    }

    @Test func aTopThatIsAMountPointIsNotEmptied() throws {
        let s = Scratch("topmnt")
        let host = s.sub("host")
        #expect(makeDir(host) && writeFile(host + "/data"))
        #expect(makeDir(s.sub("t")) && bindMount(host, s.sub("t")))
        #expect(release(BuiltinCleaner(), .path, s.sub("t")).isRetry)
        #expect(exists(host + "/data"))
        #expect(unmount(s.sub("t")))
    }

    @Test func deepTreesUseABoundedNumberOfFDs() throws {
        let s = Scratch("deep")
        let t = s.sub("t")
        var p = t
        #expect(makeDir(p))
        for i in 0..<200 {  // deeper than the fd budget; re-opens by name
            p += "/d\(i % 10)"
            #expect(makeDir(p))
            if i % 7 == 0 { #expect(writeFile(p + "/f")) }
        }
        #expect(release(BuiltinCleaner(), .path, t) == .released)
        #expect(!exists(t))
        #expect(openFDCount(under: t) == 0)
    }

    @Test func namesThatAreNotUTF8AreRemoved() throws {
        let s = Scratch("bytes")
        let t = s.sub("t")
        #expect(makeDir(t))
        var raw = Array((t + "/bad-").utf8CString.dropLast())
        raw += [CChar(bitPattern: 0xff), CChar(bitPattern: 0xfe), 0]
        let fd = raw.withUnsafeBufferPointer { open($0.baseAddress!, O_CREAT | O_WRONLY | O_CLOEXEC, 0o600) }
        #expect(fd >= 0)
        close(fd)
        #expect(release(BuiltinCleaner(), .path, t) == .released)
        #expect(!exists(t))
    }
}
