//! The shipped wasm carries no `std`: a panic traps at once instead of
//! formatting a message (which would ship `core::fmt`), and memory comes from
//! a small allocator. Built with `--no-default-features --features slim`.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

/// Size classes: 2^k and 3·2^(k-1) bytes, from 16 up.
const CLASSES: usize = 64;
const PAGE: usize = 65_536;
/// The alignment of every block.
const ALIGN: usize = 16;

struct State {
    /// Head of each class's free list (0: empty); a free block's first word
    /// holds the next one.
    free: [usize; CLASSES],
    /// The untouched memory between `next` and `end`, taken from `memory.grow`.
    next: usize,
    end: usize,
}

/// A segregated-fit allocator: every block is of a size class (powers of
/// two and the sizes half-way between: 16, 24, 32, 48, 64, 96...), freed
/// blocks go on their class's list and are reused as they are, new ones are
/// cut from memory grown a page or more at a time. A few hundred bytes of
/// wasm where a general allocator takes kilobytes; the price is up to a
/// third of a block unused (a 760-byte event takes a 768-byte block, an
/// 800-byte one 1 KiB). `realloc` is `GlobalAlloc`'s own (a new block,
/// a copy, the old one freed): growth by doubling changes class anyway, and
/// a realloc of its own that kept a block within its class measured 37 B
/// gzip more and no faster `track()`. Out of memory traps here, as
/// `handle_alloc_error` would after a null: no null return is ever checked.
struct Pow2(UnsafeCell<State>);

// SAFETY: the wasm32 target here is single-threaded.
unsafe impl Sync for Pow2 {}

/// The class of `size` bytes (the size, not the `Layout`: a reference to
/// one put it in memory, a stack frame per call). With `h` the highest bit
/// of `size - 1`, the block of `2^(h+1)` bytes is class `2h`, and of
/// `3·2^(h-1)` bytes (when the size fits in it: bit `h - 1` of `size - 1`
/// is clear) class `2h - 1`. No branch, and no division in [`size_of`].
fn class_of(size: usize) -> usize {
    let n = size.max(16) - 1;
    let h = (usize::BITS - 1 - n.leading_zeros()) as usize;
    2 * h - 1 + ((n >> (h - 1)) & 1)
}

/// The block size of a class: `3·2^(c/2)` bytes for an odd class `c`,
/// `2·2^(c/2)` for an even one.
fn size_of(class: usize) -> usize {
    (2 + (class & 1)) << (class / 2)
}

unsafe impl GlobalAlloc for Pow2 {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // Every block is aligned to 16 bytes; no type here asks for more
        // (one that did would get no memory: a trap, never a misaligned block).
        if layout.align() > ALIGN {
            core::arch::wasm32::unreachable()
        }
        let class = class_of(layout.size());
        // SAFETY: single-threaded, and no reference to the state outlives this call.
        let s = unsafe { &mut *self.0.get() };
        let Some(head) = s.free.get_mut(class) else {
            core::arch::wasm32::unreachable()
        };
        if *head != 0 {
            let block = *head as *mut usize;
            // SAFETY: a block on a free list was handed out by this allocator,
            // is at least 8 bytes and aligned to 16; its first word is the link.
            *head = unsafe { block.read() };
            return nonnull(block as usize);
        }
        let size = size_of(class);
        loop {
            let start = (s.next + ALIGN - 1) & !(ALIGN - 1);
            if start.saturating_add(size) <= s.end {
                s.next = start + size;
                return nonnull(start);
            }
            // Then again, from the new pages (which hold the block).
            let pages = size.div_ceil(PAGE).max(16);
            let old = core::arch::wasm32::memory_grow(0, pages);
            if old == usize::MAX {
                core::arch::wasm32::unreachable()
            }
            let base = old * PAGE;
            if base != s.end {
                // Someone else grew the memory: start afresh from the new pages.
                s.next = base;
            }
            s.end = base + pages * PAGE;
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as in `alloc`.
        let s = unsafe { &mut *self.0.get() };
        if let Some(head) = s.free.get_mut(class_of(layout.size())) {
            // SAFETY: `ptr` is a block of this class, at least 8 bytes, aligned to 16.
            unsafe { (ptr as *mut usize).write(*head) };
            *head = ptr as usize;
        }
    }
}

#[global_allocator]
static ALLOCATOR: Pow2 = Pow2(UnsafeCell::new(State {
    free: [0; CLASSES],
    next: 0,
    end: 0,
}));

/// `p` as a pointer the compiler knows is not null (0 traps).
fn nonnull(p: usize) -> *mut u8 {
    match core::ptr::NonNull::new(p as *mut u8) {
        Some(p) => p.as_ptr(),
        None => core::arch::wasm32::unreachable(),
    }
}
