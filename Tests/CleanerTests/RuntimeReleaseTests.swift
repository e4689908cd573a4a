import Glibc
import Platform
import Testing
@testable import Cleaner

@Suite struct RuntimeReleaseTests {
    @Test func deletingAContainerRuncDoesNotKnowIsReleased() throws {
        let s = Scratch("runc")
        let ctx = context(uniqueName("ghost"), runtime: "runc")
        #expect(release(BuiltinCleaner(), .runtime, s.path, ctx) == .released)
        #expect(release(BuiltinCleaner(), .runtime, s.sub("no-such-root"), ctx) == .released)
    }

    @Test func aRuntimeNotInPathIsBlocked() throws {
        let outcome = release(BuiltinCleaner(), .runtime, "/run/x", context(runtime: "no-such-runtime-xyz"))
        #expect(outcome == .blocked("runtime no-such-runtime-xyz not found in PATH"))
    }

    @Test func aFailingRuntimeIsRetried() throws {
        // `false` ignores its arguments and fails without saying why.
        #expect(release(BuiltinCleaner(), .runtime, "/run/x", context(runtime: "false")).isRetry)
    }
}

@Suite struct RuntimeMessageTests {
    /// Writes an executable script from another process: an fd of ours open
    /// for writing could be inherited by a concurrent spawn (ETXTBSY).
    func makeRuntime(_ path: String, says message: String) -> Bool {
        let body = "#!/bin/sh\necho \"\(message)\" >&2\nexit 1\n"
        return Spawn.runQuietly(["/bin/sh", "-c", "printf '%s' \"$1\" > \"$2\" && chmod 755 \"$2\"", "sh", body, path],
                                timeoutMs: 10_000)
    }

    @Test func aRuntimeSayingDoesNotExistIsReleased() throws {
        let s = Scratch("fakert")
        #expect(makeRuntime(s.sub("rt1"), says: "container ghost does not exist"))
        #expect(release(BuiltinCleaner(), .runtime, "/run/x", context("ghost", runtime: s.sub("rt1"))) == .released)
        #expect(makeRuntime(s.sub("rt2"), says: "state is locked"))
        let outcome = release(BuiltinCleaner(), .runtime, "/run/x", context("ghost", runtime: s.sub("rt2")))
        #expect(outcome.isRetry)
        if case let .retry(reason) = outcome { #expect(reason.contains("state is locked")) }
    }
}
