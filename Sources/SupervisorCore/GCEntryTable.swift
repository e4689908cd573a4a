/// The GC list in insertion order with lookup by id. Entries live in a
/// slot array (removal leaves a hole, compacted when holes dominate), so
/// writing the file walks slots in order without sorting or hashing.
struct GCEntryTable {
    private var slots: [GCEntry?] = []
    private var index: [String: Int] = [:]
    private var holes = 0

    var count: Int { index.count }
    var isEmpty: Bool { index.isEmpty }
    var ids: Dictionary<String, Int>.Keys { index.keys }

    subscript(id: String) -> GCEntry? {
        get { index[id].flatMap { slots[$0] } }
        set {
            if let i = index[id] {
                if let newValue {
                    slots[i] = newValue
                } else {
                    slots[i] = nil
                    index[id] = nil
                    holes += 1
                    compactIfSparse()
                }
            } else if let newValue {
                index[id] = slots.count
                slots.append(newValue)
            }
        }
    }

    /// Updates an entry in place (no copy of its arrays).
    mutating func update(_ id: String, _ body: (inout GCEntry) -> Void) {
        guard let i = index[id], slots[i] != nil else { return }
        body(&slots[i]!)
    }

    /// Visits entries in insertion order; `body` may change them.
    mutating func forEachInOrder(_ body: (inout GCEntry) -> Void) {
        for i in slots.indices where slots[i] != nil { body(&slots[i]!) }
    }

    var inOrder: [GCEntry] { slots.compactMap { $0 } }

    private mutating func compactIfSparse() {
        guard holes > 32, holes * 2 > slots.count else { return }
        slots = slots.filter { $0 != nil }
        index.removeAll(keepingCapacity: true)
        for (i, e) in slots.enumerated() { index[e!.id] = i }
        holes = 0
    }
}
