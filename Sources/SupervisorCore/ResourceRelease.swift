import Cleaner
import Platform

/// Releases a container's resources: tracked ones in reverse order of
/// tracking (the built-in cleaner), then the engine's clean_resource hook.
/// Shared by exit handling and GC attempts.
struct ResourceRelease {
    let cleaner: BuiltinCleaner
    let config: EngineConfig
    var hooks: Hooks { config.hooks }
    var options: Options { config.options }

    /// What remains after one pass; `failure` is nil when everything is released.
    struct Outcome {
        var resources: [TrackedResource]
        var engineReleased: Bool
        var failure: String?
    }

    func run(id: String, runtime: String, pid: Int32, resources: [TrackedResource], engineReleased: Bool) -> Outcome {
        var remaining: [TrackedResource] = []
        var reasons: [String] = []
        let context = CleanContext(id: id, runtime: runtime, mountDetachAfter: options.mountDetachAfter,
                                   runtimeTimeoutMs: options.runtimeTimeoutMs)
        for var resource in resources.reversed() {
            let outcome: CleanOutcome
            if let injected = Failpoint.check("clean.\(resource.kind.name)") {
                outcome = .retry("\(resource.kind.name) \(resource.value): failpoint clean.\(resource.kind.name): \(injected)")
            } else {
                outcome = cleaner.release(&resource, context: context)
            }
            switch outcome {
            case .released:
                break
            case let .retry(why), let .blocked(why):
                reasons.append(why)
                remaining.append(resource)
            }
        }
        remaining.reverse()
        // The hook's success is remembered (and persisted) so it is not run
        // again; without a hook there is nothing of the engine's to release.
        var released = engineReleased
        if !released, let hook = hooks.cleanResource {
            let rc = Failpoint.check("clean.hook") == nil ? hook(id, runtime, pid) : -1
            if rc == 0 { released = true } else { reasons.append("clean_resource hook returned \(rc)") }
        }
        return Outcome(resources: remaining, engineReleased: released,
                       failure: reasons.isEmpty ? nil : reasons.joined(separator: "; "))
    }
}
