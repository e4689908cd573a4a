import Diagnostics
import Cleaner
import Platform

/// The GC list as a plain value: entries, their schedule, and what the file
/// must keep besides (refused entries, unknown top-level keys). No locks, no
/// threads, no I/O: the collector owns one behind its lock, and every rule
/// about replacement, backoff and due order is testable here directly.
struct GCList {
    private(set) var entries = GCEntryTable()
    private var unknownTopKeys: [(String, JSONValue)] = []
    /// Entries of the file that failed validation, kept as read (written
    /// back after the valid ones), each once.
    private var refusedEntries: [JSONValue] = []
    private var refusedSeen: Set<[UInt8]> = []
    /// Ids removed whose removal is not durable yet, with the generation
    /// that carries it: gc_restore must not bring them back.
    private var pendingRemovals: [String: UInt64] = [:]
    /// Due times, soonest first (stale items skipped when popped).
    private var schedule = DueQueue()
    /// Entries with an attempt in flight.
    private(set) var inFlightCount = 0
    /// Items in the schedule, stale ones included (tests: it stays bounded).
    var scheduledCount: Int { schedule.count }

    init(_ doc: GCFileFormat.Document? = nil, dueAt now: Int64 = 0) {
        guard let doc else { return }
        unknownTopKeys = doc.unknownTopKeys
        for entry in doc.entries {
            let record = GCRecord.make(entry)
            entries[entry.id] = GCEntryTable.Slot(record: record, nextDueNs: now)
            schedule.push(now, record)
        }
        addRefused(doc.refusedEntries)
    }

    var count: Int { entries.count }
    func contains(_ id: String) -> Bool { entries[id] != nil }
    /// The entry's fields, decoded from its record.
    subscript(id: String) -> GCEntry? { entries[id]?.entry }
    /// The entry's record (immutable: decode it without the owner's lock).
    func record(of id: String) -> GCRecord? { entries[id]?.record }

    // MARK: changes

    /// Adds `entry`, due at `now`, or replaces the entry of the same id:
    /// attempts start over, but nothing still to be released is forgotten
    /// (resources are merged), an attempt in flight stays in flight (its
    /// result will not apply) and unknown keys are kept.
    mutating func add(_ entry: GCEntry, now: Int64) {
        var entry = entry
        let old = entries[entry.id]
        if let old {
            let was = old.entry
            let added = entry.resources.filter { r in !was.resources.contains { $0.kind == r.kind && $0.value == r.value } }
            entry.resources = was.resources + added
            entry.unknownKeys = was.unknownKeys
        }
        var slot = GCEntryTable.Slot(record: .make(entry), nextDueNs: now)
        if let old {
            slot.inFlight = old.inFlight
            slot.epoch = old.epoch &+ 1
            slot.replacement = old.replacement &+ 1
        }
        entries[entry.id] = slot
        schedule.push(now, slot.record)
        pendingRemovals[entry.id] = nil
    }

    /// Appends a resource to entry `id`; false when there is none. An
    /// attempt running now works from a snapshot without it: its result
    /// will not apply (the entry is attempted again at once).
    mutating func appendResource(_ resource: TrackedResource, to id: String) -> Bool {
        guard var entry = self[id] else { return false }
        entry.resources.append(resource)
        entries.update(id) {
            $0.record = .make(entry)
            $0.epoch &+= 1
        }
        return true
    }

    /// Removes entry `id`; `generation` is the write that makes it durable.
    mutating func remove(_ id: String, generation: UInt64) {
        guard let slot = entries[id] else { return }
        if slot.inFlight { inFlightCount -= 1 }
        entries[id] = nil
        pendingRemovals[id] = generation
    }

    /// Everything up to `generation` is on disk.
    mutating func durable(upTo generation: UInt64) {
        if !pendingRemovals.isEmpty { pendingRemovals = pendingRemovals.filter { $0.value > generation } }
    }

    /// gc_restore: entries of `doc` this list does not have, except those
    /// whose removal is in flight. Returns the ids added (due at `now`) and
    /// whether anything else (refused entries) changed.
    mutating func merge(_ doc: GCFileFormat.Document, now: Int64) -> (added: [String], changed: Bool) {
        var added: [String] = []
        for entry in doc.entries where entries[entry.id] == nil && pendingRemovals[entry.id] == nil {
            let record = GCRecord.make(entry)
            entries[entry.id] = GCEntryTable.Slot(record: record, nextDueNs: now)
            schedule.push(now, record)
            added.append(entry.id)
        }
        let refused = refusedEntries.count
        addRefused(doc.refusedEntries)
        return (added, !added.isEmpty || refusedEntries.count != refused)
    }

    private mutating func addRefused(_ items: [JSONValue]) {
        for item in items where refusedSeen.insert(JSON.serialize(item)).inserted {
            refusedEntries.append(item)
        }
    }

    // MARK: schedule

    /// An attempt as it began: what the entry was then.
    struct Attempt: Equatable {
        let id: String
        let epoch: UInt32
        let replacement: UInt32
    }

    /// Marks entries due at `now` in flight, so that at most `limit` are in
    /// flight, and returns them; also the earliest due time of the others
    /// (nil: none waits, or the limit is reached: an attempt's end wakes).
    mutating func takeDue(now: Int64, limit: Int = .max) -> (due: [Attempt], earliest: Int64?) {
        var due: [Attempt] = []
        while let next = schedule.first {
            // A popped item is current only if its slot still says that time
            // and no attempt is in flight; anything else is stale.
            guard let slot = entries.slot(sameIDAs: next.record), !slot.inFlight, slot.nextDueNs == next.due else {
                schedule.popFirst()
                continue
            }
            guard next.due <= now else { break }
            guard inFlightCount < limit else { return (due, nil) }
            schedule.popFirst()
            inFlightCount += 1
            entries.update(sameIDAs: next.record) { $0.inFlight = true }
            due.append(Attempt(id: slot.record.id, epoch: slot.epoch, replacement: slot.replacement))
        }
        compactScheduleIfStale()
        return (due, schedule.first?.due)
    }

    /// Stale items (entries replaced, removed or re-scheduled) are dropped
    /// when they outnumber the entries.
    private mutating func compactScheduleIfStale() {
        guard schedule.count > 2 * entries.count + 64 else { return }
        schedule.rebuild(schedule.items.filter { item in
            guard let slot = entries.slot(sameIDAs: item.record) else { return false }
            return !slot.inFlight && slot.nextDueNs == item.due
        })
    }

    /// An attempt could not be started (no worker could): due again at
    /// `retryAt` (nil: as it was).
    mutating func cancelAttempt(_ id: String, retryAt: Int64? = nil) {
        guard let slot = entries[id], slot.inFlight else { return }
        let due = retryAt ?? slot.nextDueNs
        entries.update(id) {
            $0.inFlight = false
            $0.nextDueNs = due
        }
        inFlightCount -= 1
        schedule.push(due, slot.record)
    }

    enum AttemptResult: Equatable {
        /// The entry left the list meanwhile (nothing to do).
        case gone
        /// Replaced or changed while the attempt ran: attempt again now.
        case superseded
        /// Everything released: remove it (durably) and tell the engine.
        case released
        /// Failed again; `attempts` so far, and whether it just became stuck.
        case failed(attempts: Int, newlyStuck: Bool)
    }

    /// Applies the outcome of `attempt`, which worked on `resources`: on
    /// failure the entry keeps what remains, counts the attempt, and backs
    /// off. An attempt superseded by appended resources still removes what
    /// it released and keeps the engine's hook from running again.
    mutating func finishAttempt(_ attempt: Attempt, resources: [TrackedResource], outcome: ResourceRelease.Outcome,
                                failure: String?, now: Int64, options: Options) -> AttemptResult {
        let id = attempt.id
        guard let slot = entries[id] else { return .gone }
        guard slot.epoch == attempt.epoch else {
            var record: GCRecord?
            if slot.replacement == attempt.replacement {
                var entry = slot.entry
                let same = { (a: TrackedResource, b: TrackedResource) in a.kind == b.kind && a.value == b.value }
                let released = resources.filter { r in !outcome.resources.contains { same($0, r) } }
                entry.resources.removeAll { r in released.contains { same($0, r) } }
                entry.engineReleased = entry.engineReleased || outcome.engineReleased
                record = .make(entry)
            }
            entries.update(id) {
                if let record { $0.record = record }
                $0.inFlight = false
                $0.nextDueNs = now
            }
            if slot.inFlight { inFlightCount -= 1 }
            schedule.push(now, record ?? slot.record)
            return .superseded
        }
        guard let failure else { return .released }
        var entry = slot.entry
        entry.attempts += 1
        entry.resources = outcome.resources
        entry.engineReleased = outcome.engineReleased
        entry.lastError = failure
        let stuck = entry.attempts >= options.gcStuckAfter && !slot.loggedStuck
        let record = GCRecord.make(entry)
        let next = now + Int64(options.gcBackoffMs(afterAttempts: entry.attempts)) * 1_000_000
        entries.update(id) { s in
            s.record = record
            s.inFlight = false
            s.nextDueNs = next
            if stuck { s.loggedStuck = true }
        }
        if slot.inFlight { inFlightCount -= 1 }
        schedule.push(next, record)
        return .failed(attempts: entry.attempts, newlyStuck: stuck)
    }

    // MARK: the file

    /// What the file holds, taken quickly (references to immutable records,
    /// no bytes copied): the owner's lock need not be held for the encoding.
    struct DocumentParts: @unchecked Sendable {
        fileprivate var records: [GCRecord] = []
        fileprivate var refusedEntries: [JSONValue] = []
        fileprivate var unknownTopKeys: [(String, JSONValue)] = []

        /// garbage.json's bytes: the records, concatenated (nothing re-encoded).
        func encode() -> [UInt8] {
            var size = 64
            for r in records { size += r.withJSON { $0.count } + 1 }
            var out = GCFileFormat.beginDocument(capacity: size)
            for r in records { r.withJSON { GCFileFormat.appendEntry($0, to: &out) } }
            GCFileFormat.endDocument(&out, refusedEntries: refusedEntries, unknownTopKeys: unknownTopKeys)
            return out
        }
    }

    mutating func documentParts() -> DocumentParts {
        var parts = DocumentParts(refusedEntries: refusedEntries, unknownTopKeys: unknownTopKeys)
        parts.records.reserveCapacity(entries.count)
        entries.forEachInOrder { parts.records.append($0.record) }
        return parts
    }
}
