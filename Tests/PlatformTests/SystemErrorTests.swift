import Glibc
import Platform
import SystemPackage
import Testing

@Suite struct SystemErrorTests {
    @Test func describesCallPathAndReason() {
        let e = SystemError(.permissionDenied, "open", path: "/var/lib/isulad/garbage.json")
        #expect(e.description == "open /var/lib/isulad/garbage.json: Permission denied")
        #expect(SystemError(.resourceBusy, "umount").description == "umount: Device or resource busy")
        #expect(SystemError(.invalidArgument).description == "Invalid argument")
    }

    @Test func namedWrapsAnErrnoStep() {
        #expect(throws: SystemError(.noSpace, "write", path: "/x")) {
            try named("write", path: "/x") { () throws(Errno) in throw Errno.noSpace }
        }
    }

    @Test func openFailureNamesThePath() {
        #expect(throws: SystemError(.noSuchFileOrDirectory, "open", path: "/nonexistent-\(getpid())/f")) {
            _ = try FileIO.open("/nonexistent-\(getpid())/f", O_RDONLY)
        }
    }

    @Test func retryingEINTRReturnsTheFirstResultThatIsNotEINTR() {
        var calls = 0
        let r: Int32 = retryingEINTR {
            calls += 1
            if calls < 3 { errno = EINTR; return -1 }
            return 7
        }
        #expect(r == 7 && calls == 3)
        let failed: Int32 = retryingEINTR { errno = EBADF; return -1 }
        #expect(failed == -1 && errno == EBADF)
    }
}
