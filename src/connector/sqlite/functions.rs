//! rangesync's hash functions, registered inside SQLite.
//!
//! SQLite has no hash function of its own. Registering two functions on each
//! connection lets SQLite compute fingerprints where the data lives: a range
//! is hashed inside the database engine and only 24 bytes come back, instead
//! of every row crossing the driver. Both functions feed SQLite's values
//! through the same canonical encoding as [`Value::encode`], so a hash
//! computed here equals the one computed in Rust for the same row.
//!
//! - `rangesync_hash(spec, c1, ..., cn)`: scalar, the 16-byte row hash;
//! - `rangesync_fp(spec, c1, ..., cn)`: aggregate, the 24-byte fingerprint
//!   (count, sum of row hashes);
//! - `rangesync_pairs(m, spec, k1, ..., km, c1, ..., cn)`: aggregate, one
//!   blob of (canonical key, 16-byte row hash) pairs in the order rows
//!   arrive. A page of thousands of pairs crosses the driver as one value
//!   instead of thousands of rows, which is what makes the finest level cheap.
//!
//! `spec` is a text of one letter per following argument saying how its
//! values are read ([`Kind::code`]): `.` by storage class, `d` as a date
//! kept as text, and so on (see [`super::typed`]).
//!
//! [`Value::encode`]: crate::engine::value::Value::encode

use std::ffi::{c_int, c_void, CStr, CString};
use std::ptr::NonNull;

use libsqlite3_sys as ffi;

use crate::engine::fingerprint::{Fingerprint, RowHash, RowHasher, RustHash};
use super::typed::{interpret, Kind, Stored};
use crate::engine::value::CanonicalSink;

pub const HASH_FN: &str = "rangesync_hash";
pub const FINGERPRINT_FN: &str = "rangesync_fp";
pub const PAIRS_FN: &str = "rangesync_pairs";

type ScalarFn = unsafe extern "C" fn(*mut ffi::sqlite3_context, c_int, *mut *mut ffi::sqlite3_value);
type FinalFn = unsafe extern "C" fn(*mut ffi::sqlite3_context);

/// Registers rangesync's functions on one connection.
///
/// # Safety contract
/// `db` must be a valid, open handle that no other thread uses during the
/// call (sqlx's `LockedSqliteHandle` guarantees both).
pub fn register(db: NonNull<ffi::sqlite3>) -> Result<(), String> {
    for hash in SCHEMES {
        let name = |base: &str| CString::new(function_name(base, hash)).expect("no NUL in names");
        create(db, &name(HASH_FN), hash, Some(row_hash), None, None)?;
        create(db, &name(FINGERPRINT_FN), hash, None, Some(fp_step), Some(fp_final))?;
        create(db, &name(PAIRS_FN), hash, None, Some(pairs_step), Some(pairs_final))?;
    }
    Ok(())
}

/// Every hash function the functions come in, by position: the position
/// is the user data a callback receives.
const SCHEMES: [RustHash; 3] = [RustHash::Blake3, RustHash::Md5, RustHash::Xxh3];

/// The SQL name of a function for a hash function (`rangesync_fp_md5`).
pub fn function_name(base: &str, hash: RustHash) -> String {
    match hash {
        RustHash::Blake3 => base.to_string(),
        RustHash::Md5 => format!("{base}_md5"),
        RustHash::Xxh3 => format!("{base}_xxh3"),
    }
}

/// The hash function a callback serves, carried as SQLite's user data: its
/// position in [`SCHEMES`], as a pointer-sized integer (never dereferenced).
fn scheme_of(ctx: *mut ffi::sqlite3_context) -> RustHash {
    // SAFETY: ctx is the live context of the current callback.
    let index = unsafe { ffi::sqlite3_user_data(ctx) } as usize;
    SCHEMES.get(index).copied().unwrap_or(RustHash::Blake3)
}

/// One deterministic UTF-8 function of any arity: a scalar (`scalar`) or an
/// aggregate (`step` and `last`).
fn create(
    db: NonNull<ffi::sqlite3>,
    c_name: &CStr,
    scheme: RustHash,
    scalar: Option<ScalarFn>,
    step: Option<ScalarFn>,
    last: Option<FinalFn>,
) -> Result<(), String> {
    // An index carried in a pointer, never dereferenced.
    let user_data = SCHEMES.iter().position(|&h| h == scheme).unwrap_or(0) as *mut c_void;
    // SAFETY: `db` is valid and locked by the caller; the name is a static
    // NUL-terminated string; the callbacks are `extern "C"` functions that
    // never unwind (see `guard`) and need no user data.
    let rc = unsafe {
        ffi::sqlite3_create_function_v2(
            db.as_ptr(),
            c_name.as_ptr(),
            -1,
            ffi::SQLITE_UTF8 | ffi::SQLITE_DETERMINISTIC,
            user_data,
            scalar,
            step,
            last,
            None,
        )
    };
    check(db, rc, &c_name.to_string_lossy())
}

fn check(db: NonNull<ffi::sqlite3>, rc: c_int, name: &str) -> Result<(), String> {
    if rc == ffi::SQLITE_OK {
        return Ok(());
    }
    // SAFETY: sqlite3_errmsg returns a NUL-terminated string owned by SQLite.
    let msg = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db.as_ptr())) };
    Err(format!("cannot register SQLite function {name}: {}", msg.to_string_lossy()))
}

/// Feeds one SQLite value into the canonical encoding, read as `kind`.
///
/// # Safety
/// `v` must be a valid `sqlite3_value` for the duration of the call.
unsafe fn encode_value<S: CanonicalSink>(sink: &mut S, v: *mut ffi::sqlite3_value, kind: Kind) {
    // SAFETY (whole body): `v` is valid; text/blob pointers are read before
    // any other call on `v` that could invalidate them, and their length is
    // read right after, as SQLite's documentation prescribes.
    let stored = unsafe {
        match ffi::sqlite3_value_type(v) {
            ffi::SQLITE_INTEGER => Stored::Int(ffi::sqlite3_value_int64(v)),
            ffi::SQLITE_FLOAT => Stored::Real(ffi::sqlite3_value_double(v)),
            ffi::SQLITE_TEXT => {
                let p = ffi::sqlite3_value_text(v);
                let n = ffi::sqlite3_value_bytes(v) as usize;
                Stored::Text(bytes(p as *const u8, n))
            }
            ffi::SQLITE_BLOB => {
                let p = ffi::sqlite3_value_blob(v);
                let n = ffi::sqlite3_value_bytes(v) as usize;
                Stored::Blob(bytes(p as *const u8, n))
            }
            _ => Stored::Null,
        }
    };
    // JSON is any valid UTF-8 text: hashed from SQLite's own bytes, without
    // building a String per value.
    if let (Kind::Json, Stored::Text(t)) = (kind, &stored) {
        if std::str::from_utf8(t).is_ok() {
            sink.json(t);
            return;
        }
    }
    if kind != Kind::Raw {
        if let Some(typed) = interpret(kind, &stored) {
            typed.encode(sink);
            return;
        }
    }
    match stored {
        Stored::Int(i) => sink.integer(i as i128),
        Stored::Real(f) => sink.float(f),
        Stored::Text(t) => sink.text(t),
        Stored::Blob(b) => sink.blob(b),
        Stored::Null => sink.null(),
    }
}

/// The kinds named by a spec argument (missing letters read as raw).
///
/// # Safety
/// `v` must be a valid `sqlite3_value`; the slice lives as long as SQLite
/// keeps the argument, i.e. for the callback.
unsafe fn spec_of<'a>(v: *mut ffi::sqlite3_value) -> &'a [u8] {
    // SAFETY: as for text arguments in encode_value.
    unsafe {
        let p = ffi::sqlite3_value_text(v);
        let n = ffi::sqlite3_value_bytes(v) as usize;
        bytes(p as *const u8, n)
    }
}

fn kind_at(spec: &[u8], i: usize) -> Kind {
    spec.get(i).map_or(Kind::Raw, |&c| Kind::from_code(c))
}

/// # Safety
/// `p` must point to `n` readable bytes, or `n` must be 0.
unsafe fn bytes<'a>(p: *const u8, n: usize) -> &'a [u8] {
    if p.is_null() || n == 0 {
        &[]
    } else {
        // SAFETY: guaranteed by the caller.
        unsafe { std::slice::from_raw_parts(p, n) }
    }
}

/// The row hash of a call's arguments: the spec, then the columns.
///
/// # Safety
/// `argv` must point to `argc` valid values.
unsafe fn hash_args(scheme: RustHash, argc: c_int, argv: *mut *mut ffi::sqlite3_value) -> RowHash {
    // SAFETY: guaranteed by the caller (SQLite passes its arguments so).
    unsafe {
        let args = bytes_of_args(argc, argv);
        let Some((&spec, columns)) = args.split_first() else { return hash_values(scheme, &[], &[]) };
        hash_values(scheme, spec_of(spec), columns)
    }
}

/// # Safety
/// Every pointer in `args` must be a valid value for the call.
unsafe fn hash_values(scheme: RustHash, spec: &[u8], args: &[*mut ffi::sqlite3_value]) -> RowHash {
    thread_local! {
        // One buffer per thread (SQLite runs a statement on one thread), so
        // hashing a million rows allocates once.
        static HASHER: std::cell::RefCell<RowHasher> = std::cell::RefCell::new(RowHasher::new());
    }
    HASHER.with_borrow_mut(|h| {
        h.reset();
        for (i, &v) in args.iter().enumerate() {
            // SAFETY: each argument is a valid value during the callback.
            unsafe { encode_value(h, v, kind_at(spec, i)) };
        }
        h.finish_with(scheme)
    })
}

unsafe fn bytes_of_args<'a>(argc: c_int, argv: *mut *mut ffi::sqlite3_value) -> &'a [*mut ffi::sqlite3_value] {
    if argc <= 0 || argv.is_null() {
        &[]
    } else {
        // SAFETY: SQLite passes `argc` argument pointers in `argv`.
        unsafe { std::slice::from_raw_parts(argv, argc as usize) }
    }
}

/// Runs a callback body, turning a panic into an SQL error instead of
/// unwinding into C (which would be undefined behaviour).
fn guard(ctx: *mut ffi::sqlite3_context, body: impl FnOnce()) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).is_err() {
        // SAFETY: ctx is the live context of the current callback.
        unsafe { ffi::sqlite3_result_error(ctx, c"rangesync hash function failed".as_ptr(), -1) };
    }
}

unsafe extern "C" fn row_hash(ctx: *mut ffi::sqlite3_context, argc: c_int, argv: *mut *mut ffi::sqlite3_value) {
    guard(ctx, || {
        // SAFETY: SQLite calls us with valid ctx/argc/argv; the blob is
        // copied by SQLite (SQLITE_TRANSIENT) before `h` goes away.
        unsafe {
            let h = hash_args(scheme_of(ctx), argc, argv);
            ffi::sqlite3_result_blob(ctx, h.0.as_ptr() as *const c_void, 16, ffi::SQLITE_TRANSIENT());
        }
    });
}

/// Aggregate state, zero-initialised by SQLite on the first step. Plain
/// `u64`s keep the alignment within what `sqlite3_malloc` guarantees.
#[repr(C)]
struct FpState {
    count: u64,
    hi: u64,
    lo: u64,
}

impl FpState {
    fn fingerprint(&self) -> Fingerprint {
        Fingerprint { count: self.count, hi: self.hi, lo: self.lo }
    }
}

unsafe extern "C" fn fp_step(ctx: *mut ffi::sqlite3_context, argc: c_int, argv: *mut *mut ffi::sqlite3_value) {
    guard(ctx, || {
        // SAFETY: sqlite3_aggregate_context returns zeroed memory of the
        // asked size that lives until xFinal, or NULL when out of memory.
        unsafe {
            let state = ffi::sqlite3_aggregate_context(ctx, std::mem::size_of::<FpState>() as c_int) as *mut FpState;
            if state.is_null() {
                ffi::sqlite3_result_error_nomem(ctx);
                return;
            }
            let h = hash_args(scheme_of(ctx), argc, argv);
            let mut fp = (*state).fingerprint();
            fp.add_row(h);
            (*state).count = fp.count;
            (*state).hi = fp.hi;
            (*state).lo = fp.lo;
        }
    });
}

unsafe extern "C" fn fp_final(ctx: *mut ffi::sqlite3_context) {
    guard(ctx, || {
        // SAFETY: asking for 0 bytes returns the state if a step ran, else
        // NULL (no rows): then the fingerprint is empty.
        unsafe {
            let state = ffi::sqlite3_aggregate_context(ctx, 0) as *const FpState;
            let fp = if state.is_null() { Fingerprint::EMPTY } else { (*state).fingerprint() };
            let bytes = fp.to_bytes();
            ffi::sqlite3_result_blob(ctx, bytes.as_ptr() as *const c_void, 24, ffi::SQLITE_TRANSIENT());
        }
    });
}

/// Aggregate state of `rangesync_pairs`: a pointer to the growing blob,
/// owned by the aggregate until `pairs_final` takes it back.
#[repr(C)]
struct PairsState {
    buf: *mut Vec<u8>,
}

unsafe extern "C" fn pairs_step(ctx: *mut ffi::sqlite3_context, argc: c_int, argv: *mut *mut ffi::sqlite3_value) {
    guard(ctx, || {
        // SAFETY: as in fp_step; the arguments are the key width, the spec,
        // the key columns, then the hashed columns, all valid values.
        unsafe {
            let state = ffi::sqlite3_aggregate_context(ctx, std::mem::size_of::<PairsState>() as c_int) as *mut PairsState;
            if state.is_null() {
                ffi::sqlite3_result_error_nomem(ctx);
                return;
            }
            if (*state).buf.is_null() {
                (*state).buf = Box::into_raw(Box::new(Vec::with_capacity(64 * 1024)));
            }
            let buf = &mut *(*state).buf;
            let args = bytes_of_args(argc, argv);
            let [width, spec, rest @ ..] = args else { return };
            let spec = spec_of(*spec);
            let m = (ffi::sqlite3_value_int64(*width).max(0) as usize).min(rest.len());
            for (i, &v) in rest[..m].iter().enumerate() {
                encode_value(buf, v, kind_at(spec, i));
            }
            buf.extend_from_slice(&hash_values(scheme_of(ctx), spec.get(m..).unwrap_or(&[]), &rest[m..]).0);
        }
    });
}

unsafe extern "C" fn pairs_final(ctx: *mut ffi::sqlite3_context) {
    guard(ctx, || {
        // SAFETY: the state holds either NULL or the Box leaked in
        // pairs_step, taken back exactly once here (SQLite calls xFinal
        // once per aggregate, also when a statement is abandoned).
        unsafe {
            let state = ffi::sqlite3_aggregate_context(ctx, 0) as *mut PairsState;
            let buf = if state.is_null() || (*state).buf.is_null() {
                Vec::new()
            } else {
                let b = Box::from_raw((*state).buf);
                (*state).buf = std::ptr::null_mut();
                *b
            };
            // blob64: a page of very wide keys may pass 2 GiB; SQLite then
            // answers SQLITE_TOOBIG instead of a truncated length.
            ffi::sqlite3_result_blob64(ctx, buf.as_ptr() as *const c_void, buf.len() as u64, ffi::SQLITE_TRANSIENT());
        }
    });
}
