import Cleaner
import SystemPackage
import Testing
@testable import SupervisorCore

/// Where a tracked resource goes (supervisor_track_resource's semantics).
@Suite struct ResourceLedgerTests {
    private let path = TrackedResource(kind: .path, value: "/x")

    @Test func armedIdsKeepWhatIsTrackedForTheirExit() throws {
        var l = ResourceLedger()
        #expect(try l.track(path, for: "c1", armed: true) == .kept)
        #expect(l.take("c1") == [path])
        #expect(l.take("c1").isEmpty)
    }

    @Test func aLateResourceOfAReleasedGCEntryIsReleasedNow() throws {
        var l = ResourceLedger()
        l.rememberRelease("c1", runtime: "runc")
        #expect(try l.track(path, for: "c1", armed: false) == .releaseNow(runtime: "runc"))
        l.armed("c1")   // the id runs again: its resources belong to the new run
        #expect(try l.track(path, for: "c1", armed: true) == .kept)
    }

    @Test func neverArmedIdsAreBounded() throws {
        var l = ResourceLedger()
        for i in 0..<ResourceLedger.maxUnarmedIDs { _ = try l.track(path, for: "c\(i)", armed: false) }
        #expect(throws: Errno.noSpace) { try l.track(path, for: "one-more", armed: false) }
        #expect(try l.track(path, for: "c0", armed: false) == .kept)   // a known id still takes more
        _ = l.take("c0")
        #expect(try l.track(path, for: "one-more", armed: false) == .kept)
        var m = ResourceLedger()
        for _ in 0..<ResourceLedger.maxPerUnarmedID { _ = try m.track(path, for: "c", armed: false) }
        #expect(throws: Errno.noSpace) { try m.track(path, for: "c", armed: false) }
    }

    @Test func rememberedExitsAreBounded() throws {
        var l = ResourceLedger()
        for i in 0...ResourceLedger.rememberedExits { l.rememberRelease("c\(i)", runtime: "runc") }
        #expect(l.rememberedExitCount == ResourceLedger.rememberedExits)
        // The oldest was forgotten: its id counts as never armed again.
        #expect(try l.track(path, for: "c0", armed: false) == .kept)
        #expect(try l.track(path, for: "c1", armed: false) == .releaseNow(runtime: "runc"))
    }

    @Test func anIdHandledManyTimesIsRememberedOnce() throws {
        var l = ResourceLedger()
        for _ in 0..<(3 * ResourceLedger.rememberedExits) {
            l.rememberRelease("busy", runtime: "runc")
            l.armed("busy")
        }
        l.rememberRelease("busy", runtime: "runc")
        l.rememberRelease("other", runtime: "kata")
        #expect(l.rememberedExitCount == 2)
        #expect(try l.track(path, for: "busy", armed: false) == .releaseNow(runtime: "runc"))
        #expect(try l.track(path, for: "other", armed: false) == .releaseNow(runtime: "kata"))
    }
}
