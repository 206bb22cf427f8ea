//! The shipped wasm carries no `std`: a panic traps at once instead of
//! formatting a message (which would ship `core::fmt`), and memory comes from
//! a small allocator. Built with `--no-default-features --features slim`.

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

#[global_allocator]
// SAFETY: the wasm32 target here is single-threaded, and talc's wasm
// allocator takes its memory from `memory.grow` alone.
static ALLOCATOR: talc::TalckWasm = unsafe { talc::TalckWasm::new_global() };
