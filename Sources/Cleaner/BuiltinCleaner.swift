import Diagnostics
import Glibc
import Platform
import Synchronization

/// Releases tracked resources (SPEC section 5). Created once per engine
/// start and shared by the worker threads: it holds the capability set read
/// once and the reasons already reported, so a blocked operation is logged
/// once rather than at every GC attempt. Every call is synchronous and
/// bounded (waits have deadlines; the runtime runs under a timeout), except
/// that a syscall the kernel blocks (umount2 in D state) blocks its caller.
public final class BuiltinCleaner: Sendable {
    public let capabilities: Capabilities
    private let reported = Mutex<Set<String>>([])
    /// Bound on the remembered reasons; past it the set starts over.
    private static let reportedLimit = 4096

    public init(capabilities: Capabilities = .readEffective()) {
        self.capabilities = capabilities
    }

    /// One attempt at releasing `resource`. `.released`: gone; `.retry`:
    /// still there, try again later; `.blocked`: cannot succeed as things
    /// stand (a missing capability, a read-only filesystem...). Updates
    /// `busyCount` (EBUSY on a mount), which the caller persists.
    public func release(_ resource: inout TrackedResource, context: CleanContext) -> CleanOutcome {
        let outcome: CleanOutcome
        if (try? TrackedResource.validate(kind: resource.kind, value: resource.value)) == nil {
            // Tracking validates; this guards values restored from a damaged file.
            outcome = .blocked("refusing invalid \(resource.kind.name) value \(resource.value)")
        } else {
            switch resource.kind {
        case .mount: outcome = releaseMount(&resource, context: context)
        case .path: outcome = removeTree(resource.value)
        case .cgroup: outcome = releaseCgroup(resource.value)
        case .runtime: outcome = deleteRuntimeState(resource.value, context: context)
        }
        }
        switch outcome {
        case .released:
            Log.debug("container \(context.id): released \(resource.kind.name) \(resource.value)")
        case let .retry(reason):
            Log.info("container \(context.id): \(resource.kind.name) \(resource.value) not released yet: \(reason)")
        case let .blocked(reason):
            if firstReport(of: reason) {
                Log.error("container \(context.id): \(resource.kind.name) \(resource.value) cannot be released: \(reason)")
            }
        }
        return outcome
    }

    /// True the first time `reason` is seen by this cleaner.
    func firstReport(of reason: String) -> Bool {
        reported.withLock { seen in
            if seen.count >= Self.reportedLimit { seen.removeAll() }
            return seen.insert(reason).inserted
        }
    }

    /// `.blocked` naming the capability when it is missing, else `fallback`.
    func needs(_ cap: Capability, to action: String, otherwise fallback: CleanOutcome) -> CleanOutcome {
        capabilities.has(cap) ? fallback : .blocked("needs \(cap.name) to \(action)")
    }
}
