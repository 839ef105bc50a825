import CSystemShims

/// Hands freed heap memory back to the kernel.
///
/// glibc keeps what a burst of tunnels freed (one arena per event loop thread, buffers of up
/// to 256 KiB) for reuse, so without this a relay that once carried 1,000 tunnels stays at
/// that size while idle. `malloc_trim` releases the free pages of every arena; it is cheap
/// next to what it returns, and is only called at quiet moments: after set-up, and when the
/// last tunnel has closed. A no-op where the C library has no such call.
public enum MemoryTrim {
    public static func releaseFreeMemory() {
        _ = relay_malloc_trim()
    }
}
