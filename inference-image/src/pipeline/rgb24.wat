;; Decoder planes (float32 R, G, B) → packed rgb24 and BT.601 luma, 16 pixels per iteration with WebAssembly
;; SIMD (128-bit). The same arithmetic as frames.ts's JavaScript path, which stays the reference and the
;; fallback: x = f32(f32(v × scale) + add), add = offset + 0.5 in float32; the byte is x truncated and clamped
;; to 0..255 (NaN → 0), here by i32x4.trunc_sat_f32x4_s and two saturating narrows; luma = (77 R + 150 G +
;; 29 B + 128) >> 8 in 16-bit lanes (at most 65 408, so unsigned 16-bit arithmetic is exact).
;; Built into rgb24-wasm.ts by `npm run build:wasm` (wabt); a unit test checks the two agree.
(module
  (memory (export "memory") 1)

  ;; Four float32 lanes of one plane at $p → four int32 lanes: trunc_sat(v × scale + add).
  (func $lanes (param $p i32) (param $scale v128) (param $add v128) (result v128)
    (i32x4.trunc_sat_f32x4_s
      (f32x4.add (f32x4.mul (v128.load (local.get $p)) (local.get $scale)) (local.get $add))))

  ;; Sixteen pixels of one plane at $p → sixteen saturated bytes.
  (func $bytes (param $p i32) (param $scale v128) (param $add v128) (result v128)
    (i8x16.narrow_i16x8_u
      (i16x8.narrow_i32x4_s
        (call $lanes (local.get $p) (local.get $scale) (local.get $add))
        (call $lanes (i32.add (local.get $p) (i32.const 16)) (local.get $scale) (local.get $add)))
      (i16x8.narrow_i32x4_s
        (call $lanes (i32.add (local.get $p) (i32.const 32)) (local.get $scale) (local.get $add))
        (call $lanes (i32.add (local.get $p) (i32.const 48)) (local.get $scale) (local.get $add)))))

  ;; Eight pixels' luma as 16-bit lanes from their R, G, B bytes widened to 16 bits.
  (func $luma8 (param $r v128) (param $g v128) (param $b v128) (result v128)
    (i16x8.shr_u
      (i16x8.add
        (i16x8.add
          (i16x8.mul (local.get $r) (v128.const i16x8 77 77 77 77 77 77 77 77))
          (i16x8.mul (local.get $g) (v128.const i16x8 150 150 150 150 150 150 150 150)))
        (i16x8.add
          (i16x8.mul (local.get $b) (v128.const i16x8 29 29 29 29 29 29 29 29))
          (v128.const i16x8 128 128 128 128 128 128 128 128)))
      (i32.const 8)))

  ;; $blocks × 16 pixels: planes at $r, $g, $b (float32), rgb24 out at $out (48 bytes a block), luma at $luma
  ;; (16 bytes a block).
  (func (export "convert") (param $r i32) (param $g i32) (param $b i32) (param $out i32) (param $luma i32)
    (param $blocks i32) (param $scale f32) (param $add f32)
    (local $s v128) (local $a v128) (local $R v128) (local $G v128) (local $B v128) (local $i i32) (local $in i32)
    (local.set $s (f32x4.splat (local.get $scale)))
    (local.set $a (f32x4.splat (local.get $add)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $blocks)))
        (local.set $in (i32.shl (local.get $i) (i32.const 6)))
        (local.set $R (call $bytes (i32.add (local.get $r) (local.get $in)) (local.get $s) (local.get $a)))
        (local.set $G (call $bytes (i32.add (local.get $g) (local.get $in)) (local.get $s) (local.get $a)))
        (local.set $B (call $bytes (i32.add (local.get $b) (local.get $in)) (local.get $s) (local.get $a)))
        ;; R0 G0 B0 R1 … R5 | G5 B5 R6 … G10 | B10 R11 G11 … B15: R and G first, then B into the gaps.
        (v128.store (local.get $out)
          (i8x16.shuffle 0 1 16 3 4 17 6 7 18 9 10 19 12 13 20 15
            (i8x16.shuffle 0 16 0 1 17 0 2 18 0 3 19 0 4 20 0 5 (local.get $R) (local.get $G))
            (local.get $B)))
        (v128.store offset=16 (local.get $out)
          (i8x16.shuffle 0 21 2 3 22 5 6 23 8 9 24 11 12 25 14 15
            (i8x16.shuffle 21 0 6 22 0 7 23 0 8 24 0 9 25 0 10 26 (local.get $R) (local.get $G))
            (local.get $B)))
        (v128.store offset=32 (local.get $out)
          (i8x16.shuffle 26 1 2 27 4 5 28 7 8 29 10 11 30 13 14 31
            (i8x16.shuffle 0 11 27 0 12 28 0 13 29 0 14 30 0 15 31 0 (local.get $R) (local.get $G))
            (local.get $B)))
        (v128.store (local.get $luma)
          (i8x16.narrow_i16x8_u
            (call $luma8
              (i16x8.extend_low_i8x16_u (local.get $R))
              (i16x8.extend_low_i8x16_u (local.get $G))
              (i16x8.extend_low_i8x16_u (local.get $B)))
            (call $luma8
              (i16x8.extend_high_i8x16_u (local.get $R))
              (i16x8.extend_high_i8x16_u (local.get $G))
              (i16x8.extend_high_i8x16_u (local.get $B)))))
        (local.set $out (i32.add (local.get $out) (i32.const 48)))
        (local.set $luma (i32.add (local.get $luma) (i32.const 16)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))
)
