import Cleaner
import Platform
import Testing
@testable import SupervisorCore

/// The GC list's rules as a plain value: replacement, due order, backoff,
/// attempts that were superseded, restores that must not resurrect.
@Suite struct GCListTests {
    private func entry(_ id: String, _ resources: [TrackedResource] = []) -> GCEntry {
        GCEntry(id: id, runtime: "runc", info: PidInfo(pid: 10, ppid: 9, startTime: 100, pstartTime: 90), resources: resources)
    }
    private let mount = TrackedResource(kind: .mount, value: "/m")
    private let path = TrackedResource(kind: .path, value: "/p")
    private func failed(_ resources: [TrackedResource]) -> ResourceRelease.Outcome {
        ResourceRelease.Outcome(resources: resources, engineReleased: false, failure: "busy")
    }

    @Test func attemptsInFlightAreLimited() {
        var l = GCList()
        for id in ["a", "b", "c"] { l.add(entry(id), now: 0) }
        let first = l.takeDue(now: 0, limit: 2)
        #expect(first.due.map(\.id) == ["a", "b"])
        let none = l.takeDue(now: 0, limit: 2)
        #expect(none.due.isEmpty)
        l.cancelAttempt("a")
        let next = l.takeDue(now: 0, limit: 2)
        #expect(next.due.map(\.id) == ["c"])          // "c" waited while two were in flight; "a" queues behind it
        #expect(l.inFlightCount == 2)
        l.cancelAttempt("b", retryAt: 100)             // no worker could take it: later, not at once
        l.cancelAttempt("c", retryAt: 100)
        let early = l.takeDue(now: 50, limit: 2)
        #expect(early.due.map(\.id) == ["a"])
        #expect(early.earliest == 100)
        #expect(l.takeDue(now: 100, limit: 3).due.map(\.id) == ["b", "c"])
    }

    @Test func dueEntriesAreTakenOnceSoonestFirst() {
        var l = GCList()
        l.add(entry("a"), now: 10)
        l.add(entry("b"), now: 5)
        l.add(entry("c"), now: 50)
        l.add(entry("d"), now: 10)
        let (due, earliest) = l.takeDue(now: 20)
        #expect(due.map(\.id) == ["b", "a", "d"])      // ties: the older first
        #expect(earliest == 50)
        let r1 = l.takeDue(now: 20).due.isEmpty
        #expect(r1)          // in flight: not taken twice
        l.cancelAttempt("a")
        let r2 = l.takeDue(now: 20).due.map(\.id)
        #expect(r2 == ["a"])
        var empty = GCList()
        #expect(empty.takeDue(now: 0).earliest == nil)    // empty: nothing to wait for
    }

    @Test func theScheduleDropsStaleItemsAndStaysBounded() {
        var l = GCList()
        for round in 0..<50 {
            for i in 0..<100 { l.add(entry("e\(i)"), now: Int64(round)) }   // each replacement re-schedules
            _ = l.takeDue(now: -1)                                        // nothing due yet: a pass compacts
        }
        #expect(l.scheduledCount <= 2 * 100 + 64)
        let (due, earliest) = l.takeDue(now: 1_000)
        #expect(Set(due.map(\.id)) == Set((0..<100).map { "e\($0)" }))  // each once, none lost
        #expect(due.count == 100)
        #expect(earliest == nil)
        #expect(l.inFlightCount == 100)
        l.remove("e0", generation: 1)
        #expect(l.inFlightCount == 99)
    }

    @Test func aFailedAttemptBacksOffAndKeepsWhatRemains() {
        var options = Options()
        try? options.set("gc_retry_initial_ms", "100")
        try? options.set("gc_retry_max_ms", "400")
        var l = GCList()
        l.add(entry("a", [mount, path]), now: 0)
        var due = l.takeDue(now: 0).due[0]
        let r3 = l.finishAttempt(due, resources: [], outcome: failed([mount]), failure: "busy", now: 0, options: options)
        #expect(r3 == .failed(attempts: 1, newlyStuck: false))
        var slot = l.entries["a"]!
        #expect(slot.entry.resources == [mount])
        #expect(slot.entry.lastError == "busy")
        #expect((80_000_000...120_000_000).contains(slot.nextDueNs))   // 100 ms ± 20%
        for attempt in 2...4 {
            due = l.takeDue(now: Int64.max / 2).due[0]
            _ = l.finishAttempt(due, resources: [], outcome: failed([mount]), failure: "busy", now: 0, options: options)
            slot = l.entries["a"]!
            #expect(slot.entry.attempts == attempt)
            #expect(slot.nextDueNs <= 400_000_000)                       // capped
        }
    }

    @Test func anEntryBecomesStuckOnce() {
        var options = Options()
        try? options.set("gc_stuck_after", "2")
        var l = GCList()
        l.add(entry("a"), now: 0)
        var results: [GCList.AttemptResult] = []
        for _ in 0..<3 {
            let due = l.takeDue(now: Int64.max / 2).due[0]
            results.append(l.finishAttempt(due, resources: [], outcome: failed([]), failure: "x", now: 0, options: options))
        }
        #expect(results == [.failed(attempts: 1, newlyStuck: false), .failed(attempts: 2, newlyStuck: true),
                            .failed(attempts: 3, newlyStuck: false)])
    }

    @Test func aReplacementSupersedesTheAttemptInFlightAndKeepsResources() {
        var l = GCList()
        l.add(entry("a", [mount]), now: 0)
        let due = l.takeDue(now: 0).due[0]
        l.add(entry("a", [path]), now: 0)                  // gc_add_container again
        #expect(l.entries["a"]!.entry.resources == [mount, path])
        #expect(l.entries["a"]!.inFlight)                   // still one attempt at a time
        let ok = ResourceRelease.Outcome(resources: [], engineReleased: true, failure: nil)
        let r4 = l.finishAttempt(due, resources: [], outcome: ok, failure: nil, now: 7, options: Options())
        #expect(r4 == .superseded)
        #expect(l.contains("a"))
        let r5 = l.takeDue(now: 7).due.map(\.id)
        #expect(r5 == ["a"])  // attempted again at once
    }

    @Test func aResourceAddedDuringAnAttemptSupersedesItButKeepsWhatItReleased() {
        var l = GCList()
        l.add(entry("a", [mount]), now: 0)
        let first = l.takeDue(now: 0).due[0]
        let appended = l.appendResource(path, to: "a")
        #expect(appended)
        // The attempt released the mount and the engine's hook succeeded.
        let done = ResourceRelease.Outcome(resources: [], engineReleased: true, failure: nil)
        let r0 = l.finishAttempt(first, resources: [mount], outcome: done, failure: nil, now: 0, options: Options())
        #expect(r0 == .superseded)
        #expect(l["a"]?.resources == [path])
        #expect(l["a"]?.engineReleased == true)
        _ = l.takeDue(now: 0)
        l.cancelAttempt("a")
        let due = l.takeDue(now: 0).due[0]
        let r6 = l.appendResource(path, to: "a")
        #expect(r6)
        let r7 = l.appendResource(path, to: "nobody")
        #expect(!r7)
        let ok = ResourceRelease.Outcome(resources: [], engineReleased: true, failure: nil)
        let r8 = l.finishAttempt(due, resources: [], outcome: ok, failure: nil, now: 0, options: Options())
        #expect(r8 == .superseded)
        let again = l.takeDue(now: 0).due[0]
        let r9 = l.finishAttempt(again, resources: [], outcome: ok, failure: nil, now: 0, options: Options())
        #expect(r9 == .released)
    }

    @Test func aRestoreNeverResurrectsARemovalInFlight() throws {
        var l = GCList()
        l.add(entry("gone"), now: 0)
        l.remove("gone", generation: 5)
        let doc = try GCFileFormat.decode(Array("{\"GcContainers\":[{\"id\":\"gone\",\"runtime\":\"runc\",\"pid\":3},{\"id\":\"new\",\"runtime\":\"runc\",\"pid\":4}]}".utf8))
        let r10 = l.merge(doc, now: 0).added
        #expect(r10 == ["new"])
        l.durable(upTo: 5)                                  // the removal reached the disk
        l.remove("new", generation: 6)
        l.durable(upTo: 6)
        let r11 = l.merge(doc, now: 0).added.sorted()
        #expect(r11 == ["gone", "new"])   // then the file is the truth
    }

    @Test func theDocumentIsTheRecordsInOrder() throws {
        var l = GCList()
        l.add(entry("a"), now: 0)
        l.add(entry("b\"q"), now: 0)                     // an id JSON must escape
        let first = l.documentParts().encode()
        let r12 = l.appendResource(mount, to: "b\"q")
        #expect(r12)
        #expect(l.contains("b\"q") && !l.contains("b"))
        let second = try GCFileFormat.decode(l.documentParts().encode())
        #expect(second.entries.map(\.id) == ["a", "b\"q"])
        #expect(second.entries[1].resources == [mount])
        #expect(try GCFileFormat.decode(first).entries[1].resources.isEmpty)
        #expect(l["b\"q"]?.resources == [mount])
    }

    @Test func theIndexAgreesWithADictionaryUnderChurn() {
        var l = GCList()
        var reference: Set<String> = []
        var rng = SystemRandomNumberGenerator()
        var generation: UInt64 = 0
        for step in 0..<5_000 {
            let id = "c\(Int.random(in: 0..<300, using: &rng))"
            if reference.contains(id), Bool.random(using: &rng) {
                generation += 1
                l.remove(id, generation: generation)
                reference.remove(id)
            } else {
                l.add(entry(id), now: 0)
                reference.insert(id)
            }
            if step % 499 == 0 {
                #expect(l.count == reference.count)
                for id in reference { #expect(l[id]?.id == id) }
                #expect(!l.contains("c300"))
            }
        }
    }
}
