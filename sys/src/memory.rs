//! Memory: mapping in, a few calls at a time, the stack and heap pages a short-lived command is
//! about to touch one by one (`madvise(MADV_POPULATE_WRITE)`, Linux 5.14).
//!
//! Why: `ocirun create`, `run` and `exec` are processes that live a few milliseconds, and most
//! of their stack and heap pages are touched for the first time during that life, each with a
//! page fault. On a 2-vCPU AMD EPYC VM (2026-12-07) the parent of `ocirun run` took about 35
//! faults on its stack (its deepest frames hold the spec and the plans by value, and the
//! compiler's stack probes touch every page of a large frame) and 35 on its heap. Mapping in
//! 128 KiB of each before the command's work (16 calls) cut its faults from about 150 to 107
//! and made `run` 0.22-0.26 ms (4-5%) faster in interleaved A/Bs of 1,000 rounds, for about
//! 70 KiB more peak RSS (see the README's spawn latency section). The calls are hints: a kernel
//! without `MADV_POPULATE_WRITE` refuses them (EINVAL) and nothing else changes.

use crate::{SysResult, check};

/// How much one `madvise` call maps in: a call whose range runs past the start of the mapping
/// maps nothing, so a range is taken from the top down in pieces of this size, and the work
/// stops at the first piece the kernel refuses.
const PIECE: usize = 16 * 1024;

/// The system's page size.
fn page_size() -> usize {
    // SAFETY: sysconf reads a value glibc and musl hold from the auxiliary vector.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}

/// Maps in, writable, the pages of `[start, start + len)` that are not mapped in yet, as a
/// write to each would, without changing any byte (`MADV_POPULATE_WRITE`); `start` is a page
/// boundary.
fn populate(start: usize, len: usize) -> SysResult<()> {
    // SAFETY: MADV_POPULATE_WRITE faults in pages of the mappings the range lies in (the
    // callers give the stack, the heap or, in tests, a mapping of their own) and writes no
    // data; a range outside any mapping is refused with ENOMEM, not mapped.
    check(unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_POPULATE_WRITE) }).map(drop)
}

/// Maps in up to `bytes` below `end` (a page boundary), in pieces from the top down; the
/// first refusal ends it and is returned, after the pieces above it were mapped in.
fn populate_below(end: usize, bytes: usize) -> SysResult<()> {
    let page = page_size();
    let piece = PIECE.max(page);
    let floor = end.saturating_sub(bytes) & !(page - 1);
    let mut end = end;
    while end > floor {
        let start = end.saturating_sub(piece).max(floor);
        populate(start, end - start)?;
        end = start;
    }
    Ok(())
}

/// Maps in up to `bytes` of the calling thread's stack below the caller's frame; the
/// error is that of the first piece refused: ENOMEM where the stack's mapping ends, EINVAL
/// before Linux 5.14.
pub fn populate_stack(bytes: usize) -> SysResult<()> {
    let marker = 0u8;
    // The page that holds this frame is in use already; the range ends below it.
    let frame = std::hint::black_box(&marker) as *const u8 as usize;
    populate_below(frame & !(page_size() - 1), bytes)
}

/// Maps in up to `bytes` of the heap below the program break (the top of what the C
/// library's allocator took with `brk`, where its next allocations come from; glibc takes
/// about 132 KiB at its first allocation); ENOMEM where the heap starts, EINVAL before 5.14.
pub fn populate_heap(bytes: usize) -> SysResult<()> {
    // SAFETY: sbrk(0) moves nothing: it returns the current program break.
    let brk = unsafe { libc::sbrk(0) } as usize;
    populate_below(brk & !(page_size() - 1), bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The number of pages of `[start, start + len)` mapped in, by mincore(2).
    fn resident(start: usize, len: usize) -> usize {
        let page = page_size();
        let mut vec = vec![0u8; len.div_ceil(page)];
        // SAFETY: `vec` has one byte per page of the range; mincore only writes those.
        let ret = unsafe { libc::mincore(start as *mut libc::c_void, len, vec.as_mut_ptr()) };
        assert_eq!(ret, 0, "mincore: {}", std::io::Error::last_os_error());
        vec.iter().filter(|b| **b & 1 != 0).count()
    }

    /// A fresh private anonymous mapping of `len` bytes, none of it mapped in; unmapped on drop.
    struct Region(usize, usize);

    impl Region {
        fn new(len: usize) -> Region {
            // SAFETY: a new anonymous mapping at an address of the kernel's choosing.
            let addr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            assert_ne!(addr, libc::MAP_FAILED);
            Region(addr as usize, len)
        }
    }

    impl Drop for Region {
        fn drop(&mut self) {
            // SAFETY: the mapping this Region made, used by nothing else.
            unsafe { libc::munmap(self.0 as *mut libc::c_void, self.1) };
        }
    }

    #[test]
    fn populate_below_maps_in_the_range_under_the_end_and_nothing_else() {
        let page = page_size();
        let r = Region::new(64 * page);
        let end = r.0 + 48 * page;
        assert_eq!(resident(r.0, r.1), 0);
        populate_below(end, 20 * page).unwrap();
        assert_eq!(resident(end - 20 * page, 20 * page), 20);
        assert_eq!(resident(r.0, r.1), 20, "pages outside the range were mapped in");
    }

    #[test]
    fn populate_below_stops_at_the_start_of_the_mapping_after_the_pieces_above_it() {
        let page = page_size();
        let r = Region::new(3 * PIECE + 4 * page);
        let end = r.0 + r.1;
        // A range twice the mapping's size: three whole pieces map in, the fourth runs below.
        assert_eq!(populate_below(end, 2 * r.1), Err(libc::ENOMEM));
        assert_eq!(resident(end - 3 * PIECE, 3 * PIECE), 3 * PIECE / page);
    }

    #[test]
    fn populate_stack_maps_in_the_pages_below_the_callers_frame() {
        // A thread of its own: a fresh stack, whose pages below the frame were never touched.
        std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(|| {
                let page = page_size();
                let marker = 0u8;
                let top = (std::hint::black_box(&marker) as *const u8 as usize) & !(page - 1);
                let (start, len) = (top - 256 * 1024, 192 * 1024);
                let before = resident(start, len);
                populate_stack(512 * 1024).unwrap();
                assert!(before < len / page / 2, "{before} pages mapped in already");
                assert_eq!(resident(start, len), len / page);
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn populate_heap_maps_in_the_heap_up_to_the_program_break() {
        let page = page_size();
        // The harness has allocated from the main arena: its heap holds more than a piece.
        populate_heap(PIECE).unwrap();
        // SAFETY: as in populate_heap.
        let brk = unsafe { libc::sbrk(0) } as usize;
        let top = brk & !(page - 1);
        assert_eq!(resident(top - PIECE, PIECE), PIECE / page);
        // The break is where the heap's mapping ends: nothing is mapped from the next page up.
        let mut v = [0u8; 1];
        let above = (brk + page - 1) & !(page - 1);
        // SAFETY: one byte for one page; mincore only writes it.
        let ret = unsafe { libc::mincore(above as *mut libc::c_void, page, v.as_mut_ptr()) };
        assert_eq!((ret, crate::errno()), (-1, libc::ENOMEM));
    }
}
