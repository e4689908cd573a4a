import Diagnostics
import Cleaner
import Glibc
import Platform

extension Engine {
    /// iSulad's flow for one exit, on a worker: process gone → release its
    /// resources; alive → SIGKILL and re-check `kill_retries` times; anything
    /// left goes to the GC list (durably). Then `container_stopped`, exactly
    /// once, after the state already says NONE or GC.
    func handleExit(_ exit: ExitSupervisor.Exit, on supervisor: ExitSupervisor, cleaner: BuiltinCleaner) {
        let config = currentConfig()
        let id = exit.id, runtime = exit.runtime, info = exit.info, code = exit.code
        Log.debug("\(id): exit status \(code) read")

        var engineReleased = false
        var failure: String?
        if config.hooks.liveness(id: id, runtime: runtime, pid: info.pid, startTime: info.startTime) != .gone {
            failure = killAndConfirm(id: id, runtime: runtime, info: info, hooks: config.hooks, options: config.options)
        }
        var inGC = false
        // Resources tracked for this run join it: the supervisor's table says
        // whether any was (no ledger lock otherwise); they are taken until
        // none is left, and the exit is recorded as handled in the same
        // table section that checks it.
        var take = exit.tracked
        var passes = 0
        while true {
            var forced = false
            let resources = take ? withLedger { l -> [TrackedResource] in
                // After the first pass, a backlog or one pass too many means
                // tracks keep coming faster than they are released: the exit
                // is handled now, and what came since the last take (taken
                // with the handled mark, under this lock, so nothing slips
                // between) is released like a late resource, after the stop.
                if passes > 0 && (passes >= Self.exitPasses || l.pendingCount(id) > Self.exitPassBacklog) {
                    _ = supervisor.finish(exit.registration, force: true)
                    forced = true
                } else {
                    supervisor.clearTracked(exit.registration)
                }
                return l.take(id)
            } : []
            if forced {
                reportOOM(id, on: supervisor)
                releaseLate(id: id, runtime: runtime, resources)
                break
            }
            passes += 1
            // The OOM counter once more before the cleaner removes the cgroup:
            // an OOM kill that ended the container is reported before its stop
            // (watched here too, should a cgroup have escaped its watch).
            for r in resources where r.kind == .cgroup { supervisor.oom.watch(id: id, cgroup: r.value) }
            reportOOM(id, on: supervisor)
            if inGC {
                for r in resources {
                    do {
                        if try !ensureGC().appendResource(id: id, r) {
                            try ensureGC().add(id: id, runtime: runtime, info: info, resources: [r], lastError: "tracked during exit handling")
                        }
                    } catch {
                        Log.error("\(id): cannot add \(r.kind.name) \(r.value) to the GC list: \(error); it may leak")
                    }
                }
            } else {
                var outcome = ResourceRelease.Outcome(resources: resources, engineReleased: false, failure: failure)
                if failure == nil {
                    outcome = ResourceRelease(cleaner: cleaner, config: config)
                        .run(id: id, runtime: runtime, pid: info.pid, resources: resources, engineReleased: engineReleased)
                }
                engineReleased = outcome.engineReleased
                if let reason = outcome.failure {
                    Log.warning("\(id): cleanup after exit failed: \(reason); handed to GC")
                    do {
                        try ensureGC().add(id: id, runtime: runtime, info: info, resources: outcome.resources,
                                           engineReleased: outcome.engineReleased, lastError: reason)
                    } catch {
                        Log.error("\(id): cannot add to the GC list: \(error); its resources may leak")
                    }
                    inGC = true
                }
            }
            if supervisor.finish(exit.registration) { break }
            take = true
        }
        supervisor.oom.unwatch(id)
        config.hooks.containerStopped?(id, info.pid, code)
    }

    /// Passes over resources tracked while an exit is handled, and the
    /// backlog a later pass may take, before the exit is recorded as handled
    /// whatever keeps coming: a thread tracking without pause must not hold
    /// container_stopped back for ever.
    static let exitPasses = 4
    static let exitPassBacklog = 64

    /// SIGKILL, then up to `kill_retries` re-checks `kill_retry_interval_ms`
    /// apart. The pause ends early when the process exits (pidfd), unless an
    /// engine hook decides liveness, which only the hook can tell.
    private func killAndConfirm(id: String, runtime: String, info: PidInfo, hooks: Hooks, options: Options) -> String? {
        Log.info("\(id): process \(info.pid) still alive after its exit was reported; killing it")
        if !hooks.kill(id: id, runtime: runtime, pid: info.pid, startTime: info.startTime, signal: SIGKILL) {
            Log.warning("\(id): SIGKILL of \(info.pid) failed")
        }
        for _ in 0..<options.killRetries {
            if hooks.processAlive != nil {
                sleepMs(options.killRetryIntervalMs)
            } else {
                ProcessProbe.waitForExit(pid: info.pid, startTime: info.startTime, timeoutMs: options.killRetryIntervalMs)
            }
            if hooks.liveness(id: id, runtime: runtime, pid: info.pid, startTime: info.startTime) == .gone { return nil }
        }
        return "process \(info.pid) still alive after SIGKILL and \(options.killRetries) checks"
    }
}
