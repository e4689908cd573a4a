import SystemPackage
import Testing
@testable import SupervisorCore

@Suite struct OptionsTests {
    @Test func defaultsMatchTheSpec() {
        let o = Options()
        #expect(o.killRetries == 10)
        #expect(o.killRetryIntervalMs == 100)
        #expect(o.gcRetryInitialMs == 100)
        #expect(o.gcRetryMaxMs == 10_000)
        #expect(o.gcStuckAfter == 20)
        #expect(o.workers == 4)
        #expect(o.logLevel == .warning)
    }

    @Test func acceptsEveryKeyWithAGoodValue() throws {
        var o = Options()
        try o.set("root_dir", "/tmp/x")
        try o.set("kill_retries", "3")
        try o.set("kill_retry_interval_ms", "5")
        try o.set("gc_retry_initial_ms", "10")
        try o.set("gc_retry_max_ms", "1000")
        try o.set("gc_stuck_after", "7")
        try o.set("workers", "2")
        try o.set("mount_detach_after", "3")
        try o.set("log_level", "debug")
        #expect(o.rootDir == "/tmp/x" && o.killRetries == 3 && o.workers == 2 && o.logLevel == .debug)
    }

    @Test(arguments: [("workers", "0"), ("workers", "-1"), ("workers", "4x"), ("workers", ""), ("workers", " 4"),
                      ("kill_retries", "99999999999"), ("log_level", "loud"), ("root_dir", "relative"),
                      ("root_dir", ""), ("no_such_key", "1")])
    func refusesBadInput(key: String, value: String) {
        var o = Options()
        #expect(throws: Errno.invalidArgument) { try o.set(key, value) }
        #expect(o == Options())
    }

    @Test func retryInitialAboveMaxIsRefusedWhicheverComesSecond() throws {
        var o = Options()
        try o.set("gc_retry_max_ms", "500")
        #expect(throws: Errno.invalidArgument) { try o.set("gc_retry_initial_ms", "501") }
        try o.set("gc_retry_initial_ms", "500")
        #expect(throws: Errno.invalidArgument) { try o.set("gc_retry_max_ms", "499") }
        #expect(o.gcRetryInitialMs == 500 && o.gcRetryMaxMs == 500)
    }

    @Test func backoffDoublesAndIsCapped() {
        var o = Options()
        o.gcRetryInitialMs = 100
        o.gcRetryMaxMs = 1_000
        for _ in 0..<50 {
            #expect((80...120).contains(o.gcBackoffMs(afterAttempts: 1)))
            #expect((160...240).contains(o.gcBackoffMs(afterAttempts: 2)))
            #expect((800...1_000).contains(o.gcBackoffMs(afterAttempts: 40)))
        }
    }
}

@Suite struct ValidateTests {
    @Test(arguments: ["", "a/b", "..", "a..b", "x\u{1}y", String(repeating: "a", count: 4096)])
    func refusesBadIDs(id: String) {
        #expect(throws: Errno.self) { try Validate.containerID(id) }
    }

    @Test(arguments: ["", "run c/../x", "c/x", "./runc", "bin/runc", ".", "..", "/usr/bin/../bin/runc",
                      "/usr/./bin/runc", "/usr/bin/", "/", "ru\u{7f}nc", "run\nc", String(repeating: "r", count: 4096)])
    func refusesBadRuntimeNames(runtime: String) {
        #expect(throws: Errno.self) { try Validate.runtimeName(runtime) }
    }

    @Test func acceptsBareAndAbsoluteRuntimes() throws {
        for r in ["runc", "kata-runtime", "my.runtime-v2", "/usr/bin/runc", "//usr//bin/runc", "/opt/x..y/runc"] {
            try Validate.runtimeName(r)
        }
    }

    @Test func acceptsISuladIDs() throws {
        try Validate.containerID(String(repeating: "ab12", count: 16))
        try Validate.containerID("web-1.prod_x")
    }
}
