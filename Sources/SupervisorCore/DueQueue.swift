/// The GC list's schedule: (due time, entry) in a binary min-heap, ties in the
/// order pushed (entries due together are attempted oldest first). Entries are
/// never updated in place: a new due time is pushed, and the list drops an
/// entry it pops whose slot no longer says that time (lazy deletion), so a
/// pass over due entries costs O(k log n), not a walk of the whole list.
struct DueQueue {
    /// 24 bytes: the entry is named by a record of it (the one current when
    /// pushed; its id is what counts), so no id string is allocated per item.
    struct Item {
        let due: Int64
        let sequence: UInt64
        let record: GCRecord

        func before(_ other: Item) -> Bool {
            due != other.due ? due < other.due : sequence < other.sequence
        }
    }

    private(set) var items: [Item] = []
    private var pushed: UInt64 = 0

    var count: Int { items.count }
    var first: Item? { items.first }

    mutating func push(_ due: Int64, _ record: GCRecord) {
        pushed += 1
        items.append(Item(due: due, sequence: pushed, record: record))
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].before(items[parent]) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    @discardableResult
    mutating func popFirst() -> Item? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var least = parent
            if left < items.count && items[left].before(items[least]) { least = left }
            if right < items.count && items[right].before(items[least]) { least = right }
            if least == parent { break }
            items.swapAt(parent, least)
            parent = least
        }
        return top
    }

    /// Rebuilds from what is still current (stale items dropped), keeping
    /// their order: a sorted array is a heap.
    mutating func rebuild(_ current: [Item]) {
        items = current.sorted { $0.before($1) }
    }
}
