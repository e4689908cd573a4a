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
    @Test func aRuntimeSayingDoesNotExistIsReleased() throws {
        let s = Scratch("fakert")
        let script = s.sub("fake-runtime")
        #expect(writeFile(script, "#!/bin/sh\necho \"container $6 does not exist\" >&2\nexit 1\n"))
        #expect(chmod(script, 0o755) == 0)
        #expect(release(BuiltinCleaner(), .runtime, "/run/x", context("ghost", runtime: script)) == .released)
        #expect(writeFile(script, "#!/bin/sh\necho \"state is locked\" >&2\nexit 1\n"))
        let outcome = release(BuiltinCleaner(), .runtime, "/run/x", context("ghost", runtime: script))
        #expect(outcome.isRetry)
        if case let .retry(reason) = outcome { #expect(reason.contains("state is locked")) }
    }
}
