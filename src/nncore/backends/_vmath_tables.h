/* _vmath_tables.h -- the lookup tables of nncore's vector math: glibc's 2^(i/128) table for
 * the float64 exp, and the tanh coefficient tables of the float32 kernels.
 *
 * Included by: _vmath.h only (once, before _vmath_scalar.h and the kernel instances, which
 * all read these tables); it uses _vmath.h's NN_ALIGN64 and headers, so it is not meant
 * to be included on its own. Why a header of its own: the tables are ~170 lines of
 * generated numbers; kept apart, the code around them reads without them, and a
 * regenerated table is a diff in this file alone. Every value here is data: changing one
 * changes results (tests/test_vmath.py checks the accuracy). The algorithms that read the
 * tables are described at the top of _vmath.h (tanh) and in _vmath_scalar.h (float64 exp).
 *
 * The tanh tables: Chebyshev interpolation (mpmath.chebyfit) of the function on its
 * interval (widened by 0.003, resp. 1e-6), coefficients rounded to float, e.g.
 *     nn_vm_tanh16: H = mpf(5)/8; c = H*i + H/2
 *       w = (lambda a: tanh(a)/a - 1) if i < 2 else (lambda a: tanh(a) - 1)
 *       chebyfit(lambda d: w(c + d), [H*i - c - (0.003 if i else 0), H*(i+1) - c + 0.003], 8)
 *     nn_vm_tanh32: T0 = tanh(mid); Q = chebyfit(lambda d: (tanh(mid + d) - T0)/d, ..., 5);
 *       slot 15: R = chebyfit(lambda a: (tanh(a)/a - 1)/a, [0, 1/8], 4)
 *     (slot of interval i >= 1: (495 + i) mod 32; unused slots copy [8, 10))
 */
#ifndef NN_VMATH_TABLES_H
#define NN_VMATH_TABLES_H

#ifndef NN_VMATH_H
#error "_vmath_tables.h is part of _vmath.h: include _vmath.h"
#endif

/* ------------------------------------------------------------ float64 exp table */
/* For nn_vm_exp64 (_vmath_scalar.h): tab[2i] = bits(tail_i),
 * tab[2i+1] = bits(scale_i) - (i << 45), 2^(i/128) = scale_i (1 + tail_i) (regenerated
 * with mpmath; equal to glibc's e_exp_data.c). */
static const uint64_t nn_vm_exp_tab[256] NN_ALIGN64 = {
    0x0000000000000000ULL, 0x3ff0000000000000ULL, 0x3c9b3b4f1a88bf6eULL, 0x3feff63da9fb3335ULL,
    0xbc7160139cd8dc5dULL, 0x3fefec9a3e778061ULL, 0xbc905e7a108766d1ULL, 0x3fefe315e86e7f85ULL,
    0x3c8cd2523567f613ULL, 0x3fefd9b0d3158574ULL, 0xbc8bce8023f98efaULL, 0x3fefd06b29ddf6deULL,
    0x3c60f74e61e6c861ULL, 0x3fefc74518759bc8ULL, 0x3c90a3e45b33d399ULL, 0x3fefbe3ecac6f383ULL,
    0x3c979aa65d837b6dULL, 0x3fefb5586cf9890fULL, 0x3c8eb51a92fdeffcULL, 0x3fefac922b7247f7ULL,
    0x3c3ebe3d702f9cd1ULL, 0x3fefa3ec32d3d1a2ULL, 0xbc6a033489906e0bULL, 0x3fef9b66affed31bULL,
    0xbc9556522a2fbd0eULL, 0x3fef9301d0125b51ULL, 0xbc5080ef8c4eea55ULL, 0x3fef8abdc06c31ccULL,
    0xbc91c923b9d5f416ULL, 0x3fef829aaea92de0ULL, 0x3c80d3e3e95c55afULL, 0x3fef7a98c8a58e51ULL,
    0xbc801b15eaa59348ULL, 0x3fef72b83c7d517bULL, 0xbc8f1ff055de323dULL, 0x3fef6af9388c8deaULL,
    0x3c8b898c3f1353bfULL, 0x3fef635beb6fcb75ULL, 0xbc96d99c7611eb26ULL, 0x3fef5be084045cd4ULL,
    0x3c9aecf73e3a2f60ULL, 0x3fef54873168b9aaULL, 0xbc8fe782cb86389dULL, 0x3fef4d5022fcd91dULL,
    0x3c8a6f4144a6c38dULL, 0x3fef463b88628cd6ULL, 0x3c807a05b0e4047dULL, 0x3fef3f49917ddc96ULL,
    0x3c968efde3a8a894ULL, 0x3fef387a6e756238ULL, 0x3c875e18f274487dULL, 0x3fef31ce4fb2a63fULL,
    0x3c80472b981fe7f2ULL, 0x3fef2b4565e27cddULL, 0xbc96b87b3f71085eULL, 0x3fef24dfe1f56381ULL,
    0x3c82f7e16d09ab31ULL, 0x3fef1e9df51fdee1ULL, 0xbc3d219b1a6fbffaULL, 0x3fef187fd0dad990ULL,
    0x3c8b3782720c0ab4ULL, 0x3fef1285a6e4030bULL, 0x3c6e149289cecb8fULL, 0x3fef0cafa93e2f56ULL,
    0x3c834d754db0abb6ULL, 0x3fef06fe0a31b715ULL, 0x3c864201e2ac744cULL, 0x3fef0170fc4cd831ULL,
    0x3c8fdd395dd3f84aULL, 0x3feefc08b26416ffULL, 0xbc86a3803b8e5b04ULL, 0x3feef6c55f929ff1ULL,
    0xbc924aedcc4b5068ULL, 0x3feef1a7373aa9cbULL, 0xbc9907f81b512d8eULL, 0x3feeecae6d05d866ULL,
    0xbc71d1e83e9436d2ULL, 0x3feee7db34e59ff7ULL, 0xbc991919b3ce1b15ULL, 0x3feee32dc313a8e5ULL,
    0x3c859f48a72a4c6dULL, 0x3feedea64c123422ULL, 0xbc9312607a28698aULL, 0x3feeda4504ac801cULL,
    0xbc58a78f4817895bULL, 0x3feed60a21f72e2aULL, 0xbc7c2c9b67499a1bULL, 0x3feed1f5d950a897ULL,
    0x3c4363ed60c2ac11ULL, 0x3feece086061892dULL, 0x3c9666093b0664efULL, 0x3feeca41ed1d0057ULL,
    0x3c6ecce1daa10379ULL, 0x3feec6a2b5c13cd0ULL, 0x3c93ff8e3f0f1230ULL, 0x3feec32af0d7d3deULL,
    0x3c7690cebb7aafb0ULL, 0x3feebfdad5362a27ULL, 0x3c931dbdeb54e077ULL, 0x3feebcb299fddd0dULL,
    0xbc8f94340071a38eULL, 0x3feeb9b2769d2ca7ULL, 0xbc87deccdc93a349ULL, 0x3feeb6daa2cf6642ULL,
    0xbc78dec6bd0f385fULL, 0x3feeb42b569d4f82ULL, 0xbc861246ec7b5cf6ULL, 0x3feeb1a4ca5d920fULL,
    0x3c93350518fdd78eULL, 0x3feeaf4736b527daULL, 0x3c7b98b72f8a9b05ULL, 0x3feead12d497c7fdULL,
    0x3c9063e1e21c5409ULL, 0x3feeab07dd485429ULL, 0x3c34c7855019c6eaULL, 0x3feea9268a5946b7ULL,
    0x3c9432e62b64c035ULL, 0x3feea76f15ad2148ULL, 0xbc8ce44a6199769fULL, 0x3feea5e1b976dc09ULL,
    0xbc8c33c53bef4da8ULL, 0x3feea47eb03a5585ULL, 0xbc845378892be9aeULL, 0x3feea34634ccc320ULL,
    0xbc93cedd78565858ULL, 0x3feea23882552225ULL, 0x3c5710aa807e1964ULL, 0x3feea155d44ca973ULL,
    0xbc93b3efbf5e2228ULL, 0x3feea09e667f3bcdULL, 0xbc6a12ad8734b982ULL, 0x3feea012750bdabfULL,
    0xbc6367efb86da9eeULL, 0x3fee9fb23c651a2fULL, 0xbc80dc3d54e08851ULL, 0x3fee9f7df9519484ULL,
    0xbc781f647e5a3ecfULL, 0x3fee9f75e8ec5f74ULL, 0xbc86ee4ac08b7db0ULL, 0x3fee9f9a48a58174ULL,
    0xbc8619321e55e68aULL, 0x3fee9feb564267c9ULL, 0x3c909ccb5e09d4d3ULL, 0x3feea0694fde5d3fULL,
    0xbc7b32dcb94da51dULL, 0x3feea11473eb0187ULL, 0x3c94ecfd5467c06bULL, 0x3feea1ed0130c132ULL,
    0x3c65ebe1abd66c55ULL, 0x3feea2f336cf4e62ULL, 0xbc88a1c52fb3cf42ULL, 0x3feea427543e1a12ULL,
    0xbc9369b6f13b3734ULL, 0x3feea589994cce13ULL, 0xbc805e843a19ff1eULL, 0x3feea71a4623c7adULL,
    0xbc94d450d872576eULL, 0x3feea8d99b4492edULL, 0x3c90ad675b0e8a00ULL, 0x3feeaac7d98a6699ULL,
    0x3c8db72fc1f0eab4ULL, 0x3feeace5422aa0dbULL, 0xbc65b6609cc5e7ffULL, 0x3feeaf3216b5448cULL,
    0x3c7bf68359f35f44ULL, 0x3feeb1ae99157736ULL, 0xbc93091fa71e3d83ULL, 0x3feeb45b0b91ffc6ULL,
    0xbc5da9b88b6c1e29ULL, 0x3feeb737b0cdc5e5ULL, 0xbc6c23f97c90b959ULL, 0x3feeba44cbc8520fULL,
    0xbc92434322f4f9aaULL, 0x3feebd829fde4e50ULL, 0xbc85ca6cd7668e4bULL, 0x3feec0f170ca07baULL,
    0x3c71affc2b91ce27ULL, 0x3feec49182a3f090ULL, 0x3c6dd235e10a73bbULL, 0x3feec86319e32323ULL,
    0xbc87c50422622263ULL, 0x3feecc667b5de565ULL, 0x3c8b1c86e3e231d5ULL, 0x3feed09bec4a2d33ULL,
    0xbc91bbd1d3bcbb15ULL, 0x3feed503b23e255dULL, 0x3c90cc319cee31d2ULL, 0x3feed99e1330b358ULL,
    0x3c8469846e735ab3ULL, 0x3feede6b5579fdbfULL, 0xbc82dfcd978e9db4ULL, 0x3feee36bbfd3f37aULL,
    0x3c8c1a7792cb3387ULL, 0x3feee89f995ad3adULL, 0xbc907b8f4ad1d9faULL, 0x3feeee07298db666ULL,
    0xbc55c3d956dcaebaULL, 0x3feef3a2b84f15fbULL, 0xbc90a40e3da6f640ULL, 0x3feef9728de5593aULL,
    0xbc68d6f438ad9334ULL, 0x3feeff76f2fb5e47ULL, 0xbc91eee26b588a35ULL, 0x3fef05b030a1064aULL,
    0x3c74ffd70a5fddcdULL, 0x3fef0c1e904bc1d2ULL, 0xbc91bdfbfa9298acULL, 0x3fef12c25bd71e09ULL,
    0x3c736eae30af0cb3ULL, 0x3fef199bdd85529cULL, 0x3c8ee3325c9ffd94ULL, 0x3fef20ab5fffd07aULL,
    0x3c84e08fd10959acULL, 0x3fef27f12e57d14bULL, 0x3c63cdaf384e1a67ULL, 0x3fef2f6d9406e7b5ULL,
    0x3c676b2c6c921968ULL, 0x3fef3720dcef9069ULL, 0xbc808a1883ccb5d2ULL, 0x3fef3f0b555dc3faULL,
    0xbc8fad5d3ffffa6fULL, 0x3fef472d4a07897cULL, 0xbc900dae3875a949ULL, 0x3fef4f87080d89f2ULL,
    0x3c74a385a63d07a7ULL, 0x3fef5818dcfba487ULL, 0xbc82919e2040220fULL, 0x3fef60e316c98398ULL,
    0x3c8e5a50d5c192acULL, 0x3fef69e603db3285ULL, 0x3c843a59ac016b4bULL, 0x3fef7321f301b460ULL,
    0xbc82d52107b43e1fULL, 0x3fef7c97337b9b5fULL, 0xbc892ab93b470dc9ULL, 0x3fef864614f5a129ULL,
    0x3c74b604603a88d3ULL, 0x3fef902ee78b3ff6ULL, 0x3c83c5ec519d7271ULL, 0x3fef9a51fbc74c83ULL,
    0xbc8ff7128fd391f0ULL, 0x3fefa4afa2a490daULL, 0xbc8dae98e223747dULL, 0x3fefaf482d8e67f1ULL,
    0x3c8ec3bc41aa2008ULL, 0x3fefba1bee615a27ULL, 0x3c842b94c3a9eb32ULL, 0x3fefc52b376bba97ULL,
    0x3c8a64a931d185eeULL, 0x3fefd0765b6e4540ULL, 0xbc8e37bae43be3edULL, 0x3fefdbfdad9cbe14ULL,
    0x3c77893b4d91cd9dULL, 0x3fefe7c1819e90d8ULL, 0x3c5305c14160cc89ULL, 0x3feff3c22b8f71f1ULL,
};

/* ------------------------------------------------------------ tanh tables */
/* nn_vm_tanh16[k][i]: coefficient of d^k in interval i of 16 (width 5/8, degree 7: AVX2 and
 * generic); nn_vm_tanh32: 32 intervals of width 5/16, degree 5 (AVX-512, where one vpermt2ps
 * looks up 32 entries). See the note at the top of _vmath.h (the algorithm) and of this
 * file (how the coefficients were made). */
static const float nn_vm_tanh16[8][16] NN_ALIGN64 = {
    {-0x1.00a564p-5f, -0x1.bc6574p-3f, -0x1.58c85ep-4f, -0x1.975c40p-6f,
     -0x1.d7054cp-8f, -0x1.0e97dap-9f, -0x1.365562p-11f, -0x1.63b92ap-13f,
     -0x1.97b0bep-15f, -0x1.d33aa6p-17f, -0x1.0bba64p-18f, -0x1.32d26cp-20f,
     -0x1.5f9fbep-22f, -0x1.92f7c8p-24f, -0x1.cdcf18p-26f, -0x1.089ef8p-27f},
    {-0x1.8b35d8p-3f, -0x1.5f918cp-2f, 0x1.4a4584p-3f, 0x1.924bd2p-5f,
     0x1.d553f8p-7f, 0x1.0e505ap-8f, 0x1.363ddep-10f, 0x1.63b170p-12f,
     0x1.97ae34p-14f, 0x1.d339d2p-16f, 0x1.0bba42p-17f, 0x1.32d260p-19f,
     0x1.5f9fbap-21f, 0x1.92f7c8p-23f, 0x1.cdcf18p-25f, 0x1.089ef8p-26f},
    {-0x1.0cb0d0p-2f, 0x1.50ecbep-8f, -0x1.2e7864p-3f, -0x1.884b18p-5f,
     -0x1.d1f476p-7f, -0x1.0dc186p-8f, -0x1.360eeap-10f, -0x1.63a210p-12f,
     -0x1.97a936p-14f, -0x1.d33840p-16f, -0x1.0bba0ap-17f, -0x1.32d25ap-19f,
     -0x1.5f9fc6p-21f, -0x1.92f7dap-23f, -0x1.cdcf2ep-25f, -0x1.089f06p-26f},
    {0x1.18c078p-3f, 0x1.87a0a4p-4f, 0x1.4dd6e0p-4f, 0x1.f0e1dap-6f,
     0x1.3229c8p-7f, 0x1.66304ap-9f, 0x1.9cebdcp-11f, 0x1.da042cp-13f,
     0x1.0fbf58p-14f, 0x1.377892p-16f, 0x1.64f746p-18f, 0x1.99182cp-20f,
     0x1.d4d4e4p-22f, 0x1.0ca530p-23f, 0x1.33df68p-25f, 0x1.60d3fap-27f},
    {0x1.13c8e0p-4f, -0x1.c978bep-5f, -0x1.a092c8p-6f, -0x1.be15e4p-7f,
     -0x1.2948a4p-8f, -0x1.633132p-10f, -0x1.9be5c4p-12f, -0x1.d9a3aep-14f,
     -0x1.0fa994p-15f, -0x1.376aa4p-17f, -0x1.64eaeep-19f, -0x1.990b38p-21f,
     -0x1.d4c66ep-23f, -0x1.0c9cf6p-24f, -0x1.33d602p-26f, -0x1.60c936p-28f},
    {-0x1.1d0e0cp-4f, 0x1.7a78c0p-9f, -0x1.462d66p-12f, 0x1.16e8f2p-8f,
     0x1.bfa18cp-10f, 0x1.177158p-11f, 0x1.47f8dcp-13f, 0x1.7a6acap-15f,
     0x1.b2838ep-17f, 0x1.f23cc6p-19f, 0x1.1d8a48p-20f, 0x1.473fd8p-22f,
     0x1.7709fap-24f, 0x1.adcdb0p-26f, 0x1.ec9044p-28f, 0x1.1a3e64p-29f},
    {-0x1.41280cp-7f, 0x1.f0eacep-7f, 0x1.74479cp-8f, -0x1.4c3ae6p-11f,
     -0x1.0663f6p-11f, -0x1.6c213cp-13f, -0x1.b6fd62p-15f, -0x1.fe4baap-17f,
     -0x1.25974cp-18f, -0x1.50d9dap-20f, -0x1.822a70p-22f, -0x1.ba9870p-24f,
     -0x1.fb3c98p-26f, -0x1.22a75cp-27f, -0x1.4d1874p-29f, -0x1.7dbbeep-31f},
    {0x1.c07bd0p-6f, -0x1.21c388p-7f, -0x1.c1cb4cp-9f, -0x1.b622f6p-13f,
     0x1.ada08ep-14f, 0x1.816f72p-15f, 0x1.ea4beep-17f, 0x1.210ef2p-18f,
     0x1.4df190p-20f, 0x1.7f9606p-22f, 0x1.b7e2d8p-24f, 0x1.f8367ep-26f,
     0x1.20ef34p-27f, 0x1.4b2126p-29f, 0x1.7b7b80p-31f, 0x1.b2e50ap-33f},
};
static const float nn_vm_tanh32[7][32] NN_ALIGN64 = {
    /* mid: d = a - mid */
    {0x1.2092aap+1f, 0x1.60ee6ep+1f, 0x1.9ff6fcp+1f, 0x1.dfb8b8p+1f,
     0x1.20666ap+2f, 0x1.60233cp+2f, 0x1.9cbb76p+2f, 0x1.e0d436p+2f,
     0x1.1549aep+3f, 0x1.1549aep+3f, 0x1.1549aep+3f, 0x1.1549aep+3f,
     0x1.1549aep+3f, 0x1.1549aep+3f, 0x1.1549aep+3f, 0.0f,
     0x1.1f9308p-3f, 0x1.607f00p-3f, 0x1.9e7ad0p-3f, 0x1.e029cap-3f,
     0x1.1faee2p-2f, 0x1.5e7442p-2f, 0x1.a076cep-2f, 0x1.e1574ep-2f,
     0x1.210074p-1f, 0x1.5ffa44p-1f, 0x1.a0b85ap-1f, 0x1.dfd97ep-1f,
     0x1.1e37a2p+0f, 0x1.604402p+0f, 0x1.a040bap+0f, 0x1.de5ef6p+0f},
    /* coefficient of d^0 */
    {0x1.f4d93ap-1f, 0x1.fbe464p-1f, 0x1.fe7642p-1f, 0x1.ff6e76p-1f,
     0x1.ffe00ep-1f, 0x1.fffba4p-1f, 0x1.ffff58p-1f, 0x1.ffffecp-1f,
     0x1.fffffep-1f, 0x1.fffffep-1f, 0x1.fffffep-1f, 0x1.fffffep-1f,
     0x1.fffffep-1f, 0x1.fffffep-1f, 0x1.fffffep-1f, 0.0f,
     0x1.1db2f8p-3f, 0x1.5d0e58p-3f, 0x1.98e97ep-3f, 0x1.d78df0p-3f,
     0x1.185892p-2f, 0x1.51622ap-2f, 0x1.8aed08p-2f, 0x1.c0c3f2p-2f,
     0x1.05c60ap-1f, 0x1.31542ep-1f, 0x1.57ee42p-1f, 0x1.77c676p-1f,
     0x1.9d2002p-1f, 0x1.c29758p-1f, 0x1.d9d992p-1f, 0x1.e82d44p-1f},
    /* coefficient of d^1 */
    {0x1.60f5eap-5f, 0x1.05d908p-6f, 0x1.89269ap-8f, 0x1.22eaa0p-9f,
     0x1.ff10cep-12f, 0x1.16ff28p-14f, 0x1.4ffa50p-17f, 0x1.401074p-20f,
     0x1.fe1e98p-24f, 0x1.fe1e98p-24f, 0x1.fe1e98p-24f, 0x1.fe1e98p-24f,
     0x1.fe1e98p-24f, 0x1.fe1e98p-24f, 0x1.fe1e98p-24f, 0x1.p+0f,
     0x1.f60940p-1f, 0x1.f12080p-1f, 0x1.eb96b8p-1f, 0x1.e4db24p-1f,
     0x1.d99fc4p-1f, 0x1.c86b8cp-1f, 0x1.b3d830p-1f, 0x1.9daa34p-1f,
     0x1.7a294cp-1f, 0x1.49eb28p-1f, 0x1.18f7d6p-1f, 0x1.d868f8p-2f,
     0x1.654fb6p-2f, 0x1.cdcf2ap-3f, 0x1.25d494p-3f, 0x1.744d94p-4f},
    /* coefficient of d^2 */
    {-0x1.59440cp-5f, -0x1.03bc72p-6f, -0x1.87f348p-8f, -0x1.229408p-9f,
     -0x1.fe7c66p-12f, -0x1.16bd2cp-14f, -0x1.4fbe26p-17f, -0x1.3fc63ap-20f,
     -0x1.ff7bdap-24f, -0x1.ff7bdap-24f, -0x1.ff7bdap-24f, -0x1.ff7bdap-24f,
     -0x1.ff7bdap-24f, -0x1.ff7bdap-24f, -0x1.ff7bdap-24f, 0x1.b59782p-26f,
     -0x1.1823a2p-3f, -0x1.52ea94p-3f, -0x1.889c48p-3f, -0x1.be8e00p-3f,
     -0x1.03554cp-2f, -0x1.2cc24ap-2f, -0x1.502f22p-2f, -0x1.6a933cp-2f,
     -0x1.82b098p-2f, -0x1.897da2p-2f, -0x1.797992p-2f, -0x1.5ab804p-2f,
     -0x1.204f7ep-2f, -0x1.966c06p-3f, -0x1.0fefe8p-3f, -0x1.62fae8p-4f},
    /* coefficient of d^3 */
    {0x1.b83036p-6f, 0x1.54b9e2p-7f, 0x1.03bcf2p-8f, 0x1.829a08p-10f,
     0x1.543224p-12f, 0x1.73c408p-15f, 0x1.c12952p-18f, 0x1.aa399ep-21f,
     0x1.626d6cp-24f, 0x1.626d6cp-24f, 0x1.626d6cp-24f, 0x1.626d6cp-24f,
     0x1.626d6cp-24f, 0x1.626d6cp-24f, 0x1.626d6cp-24f, -0x1.555704p-2f,
     -0x1.3b269cp-2f, -0x1.2e8934p-2f, -0x1.2087dap-2f, -0x1.0fd3d4p-2f,
     -0x1.e98022p-3f, -0x1.9a5fa4p-3f, -0x1.41d066p-3f, -0x1.d3844ep-4f,
     -0x1.b339d6p-5f, 0x1.d6bd2cp-7f, 0x1.0902e2p-4f, 0x1.83ff3cp-4f,
     0x1.c61578p-4f, 0x1.977b06p-4f, 0x1.337682p-4f, 0x1.acb8eap-5f},
    /* coefficient of d^4 */
    {-0x1.92b902p-7f, -0x1.4c7a4ap-8f, -0x1.0318d0p-9f, -0x1.84c9eap-11f,
     -0x1.627f70p-13f, -0x1.83b014p-16f, -0x1.d0ebfap-19f, -0x1.bce25cp-22f,
     -0x1.60dc56p-25f, -0x1.60dc56p-25f, -0x1.60dc56p-25f, -0x1.60dc56p-25f,
     -0x1.60dc56p-25f, -0x1.60dc56p-25f, -0x1.60dc56p-25f, 0x1.eca8bap-13f,
     0x1.6a8e2ep-4f, 0x1.b020c2p-4f, 0x1.ec19b6p-4f, 0x1.11fc8ep-3f,
     0x1.32b908p-3f, 0x1.4f89c8p-3f, 0x1.5c124cp-3f, 0x1.5805a2p-3f,
     0x1.390e38p-3f, 0x1.e954fcp-4f, 0x1.456daep-4f, 0x1.63bb82p-5f,
     0x1.3725bep-8f, -0x1.5b213ep-6f, -0x1.9bbc14p-6f, -0x1.580800p-6f},
    /* coefficient of d^5 */
    {0x1.04a21cp-8f, 0x1.f40e96p-10f, 0x1.92f9c8p-11f, 0x1.32381ep-12f,
     0x1.1a9606p-14f, 0x1.33829cp-17f, 0x1.530e00p-20f, 0x1.6762ccp-23f,
     0x1.5fc16cp-27f, 0x1.5fc16cp-27f, 0x1.5fc16cp-27f, 0x1.5fc16cp-27f,
     0x1.5fc16cp-27f, 0x1.5fc16cp-27f, 0x1.5fc16cp-27f, 0x1.0c5b28p-3f,
     0x1.ca9cacp-4f, 0x1.a2558ap-4f, 0x1.74d8cap-4f, 0x1.428786p-4f,
     0x1.e3fedcp-5f, 0x1.06a1d0p-5f, 0x1.81f7eap-8f, -0x1.1a8be4p-6f,
     -0x1.654156p-5f, -0x1.f8c966p-5f, -0x1.00c776p-4f, -0x1.b2cef8p-5f,
     -0x1.075a40p-5f, -0x1.362a1ep-7f, 0x1.74b524p-10f, 0x1.2dde7ep-8f},
};
#define NN_VM_TANH_MAX 9.99f   /* tanh(x) rounds to 1 in float for x > 9.01 */

#endif /* NN_VMATH_TABLES_H */
