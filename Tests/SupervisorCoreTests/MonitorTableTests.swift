import Platform
import Testing
@testable import SupervisorCore

/// The exit supervisor's table as a plain value: registrations, the id
/// index (open addressing, backward-shift deletion) and stale tokens.
@Suite struct MonitorTableTests {
    private let info = PidInfo(pid: 1, ppid: 2, startTime: 3, pstartTime: 4)

    private func monitor(_ id: String, fd: Int32 = 7) -> Monitor {
        Monitor.make(id: id, runtime: 0, info: info, fd: fd)
    }

    @Test func anIdIsArmedOnce() {
        var t = MonitorTable()
        let r = t.insert(monitor("c1"))
        #expect(r != nil)
        #expect(t.insert(monitor("c1")) == nil)
        #expect(t.registration(of: "c1") == r)
        #expect(t.slot(r!)?.monitor?.id == "c1")
        #expect(t.count == 1)
    }

    @Test func aFreedSlotMakesOldTokensStale() {
        var t = MonitorTable()
        let old = t.insert(monitor("c1"))!
        t.remove(old)
        #expect(t.slot(old) == nil)
        #expect(t.registration(of: "c1") == nil)
        let new = t.insert(monitor("c2"))!
        #expect(new.index == old.index)          // the slot is reused...
        #expect(new.generation != old.generation) // ...under a new generation
        #expect(t.slot(old) == nil)
        #expect(t.slot(new)?.monitor?.id == "c2")
        t.update(old) { $0.phase = .stopping }    // a stale update changes nothing
        #expect(t.slot(new)?.phase == .armed)
    }

    @Test func theIndexAgreesWithADictionaryUnderChurn() {
        var t = MonitorTable()
        var reference: [String: Registration] = [:]
        var rng = SystemRandomNumberGenerator()
        for step in 0..<20_000 {
            let id = "c\(Int.random(in: 0..<700, using: &rng))"
            if let r = reference[id], Bool.random(using: &rng) {
                t.remove(r)
                reference[id] = nil
            } else if reference[id] == nil {
                reference[id] = t.insert(monitor(id))
                #expect(reference[id] != nil)
            }
            if step % 997 == 0 {
                #expect(t.count == reference.count)
                for (id, r) in reference { #expect(t.registration(of: id) == r) }
                for i in 700..<710 { #expect(t.registration(of: "c\(i)") == nil) }
            }
        }
        #expect(t.registrations.count == reference.count)
    }

    @Test func aHandledExitIsRememberedUntilReArmed() {
        var t = MonitorTable()
        let r = t.insert(monitor("c1"))!
        t.update(r) { $0.phase = .stopping }
        t.markHandled(r)
        #expect(t.count == 0)
        #expect(t.handledCount == 1)
        #expect(t.registration(of: "c1") == r)          // still found, as handled
        #expect(t.slot(r)?.phase == .handled)
        let again = t.insert(monitor("c1"))!             // a re-arm replaces it
        #expect(again != r)
        #expect(t.slot(r) == nil)
        #expect(t.handledCount == 0)
        #expect(t.count == 1)
        #expect(t.insert(monitor("c1")) == nil)          // armed (not handled): refused
    }

    @Test func handledExitsAreBoundedOldestFirst() {
        var t = MonitorTable()
        let limit = MonitorTable.rememberedExits
        // One id restarted many times leaves stale ring entries behind; they
        // must not evict the others (each re-arm frees its handled slot).
        for _ in 0..<(3 * limit) {
            let r = t.insert(monitor("busy"))!
            t.update(r) { $0.phase = .stopping }
            t.markHandled(r)
        }
        #expect(t.handledCount == 1)
        for i in 0..<limit {
            let r = t.insert(monitor("c\(i)"))!
            t.update(r) { $0.phase = .stopping }
            t.markHandled(r)
        }
        #expect(t.handledCount == limit)
        #expect(t.registration(of: "busy") == nil)       // the oldest went first
        #expect(t.registration(of: "c0") != nil)
        #expect(t.registration(of: "c\(limit - 1)") != nil)
        let r = t.insert(monitor("last"))!
        t.update(r) { $0.phase = .stopping }
        t.markHandled(r)
        #expect(t.handledCount == limit)
        #expect(t.registration(of: "c0") == nil)
        #expect(t.registration(of: "c1") != nil)
        #expect(t.slots.count <= limit + 2)               // freed slots are reused
    }

    @Test func tokensRoundTrip() {
        let r = Registration(index: EpollToken.maxIndex, generation: .max)
        for token in [EpollToken.wakeup, .exitFIFO(r), .oomInotify, .oomTimer, .oomEventFD(r),
                      .exitFIFO(Registration(index: 0, generation: 0))] {
            #expect(EpollToken(data: token.data) == token)
        }
        #expect(EpollToken(data: 0xF) == nil)
    }
}
