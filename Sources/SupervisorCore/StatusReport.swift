import Platform

extension Engine {
    /// `supervisor_status_json`: a snapshot of armed monitors and GC entries
    /// (attempts, last error, next retry, stuck) for operators and tests.
    public func statusJSON() -> [UInt8] {
        let (supervisor, gc, pool, shutdownWriteError) = withState { ($0.parts.supervisor, $0.parts.gc.open, $0.parts.pool, $0.shutdownWriteError) }
        let options = currentOptions()
        let now = MonotonicClock.nowNs()
        let w = JSONWriter()
        w.mapOpen()
        w.key("version"); w.string(Self.version)
        w.key("supervisor_running"); w.bool(supervisor != nil)
        w.key("gc_running"); w.bool(gc?.isCollecting ?? false)
        w.key("workers"); w.int(Int64(options.workers))
        w.key("pending_jobs"); w.int(Int64(pool?.pendingJobs ?? 0))
        w.key("root_dir"); w.string(options.rootDir)
        // The GC list's failing write (changes only in memory), or the last
        // shutdown's; null when every change is on disk.
        w.key("gc_write_error")
        if let err = gc.map({ $0.writeError }) ?? shutdownWriteError { w.string(err) } else { w.null() }
        w.key("monitors")
        w.arrayOpen()
        for m in supervisor?.snapshot() ?? [] {
            w.mapOpen()
            w.key("id"); w.string(m.id)
            w.key("runtime"); w.string(m.runtime)
            w.key("pid"); w.int(Int64(m.info.pid))
            w.key("ppid"); w.int(Int64(m.info.ppid))
            w.key("state"); w.string(m.stopping ? "stopping" : "running")
            w.key("oom_kills"); w.int(Int64(clamping: supervisor?.oom.count(of: m.id) ?? 0))
            w.mapClose()
        }
        w.arrayClose()
        w.key("gc")
        w.arrayOpen()
        for slot in gc?.snapshot() ?? [] {
            let e = slot.entry
            w.mapOpen()
            w.key("id"); w.string(e.id)
            w.key("runtime"); w.string(e.runtime)
            w.key("pid"); w.int(Int64(e.info.pid))
            w.key("ppid"); w.int(Int64(e.info.ppid))
            w.key("attempts"); w.int(Int64(e.attempts))
            w.key("last_error")
            if let err = e.lastError { w.string(err) } else { w.null() }
            w.key("next_retry_ms"); w.int(slot.inFlight ? 0 : max(0, (slot.nextDueNs - now) / 1_000_000))
            w.key("in_progress"); w.bool(slot.inFlight)
            w.key("stuck"); w.bool(e.attempts >= options.gcStuckAfter)
            w.key("resources")
            GCFileFormat.writeResources(e.resources, to: w)
            w.mapClose()
        }
        w.arrayClose()
        w.mapClose()
        return w.finish()
    }
}
