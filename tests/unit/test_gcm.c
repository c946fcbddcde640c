/*
 * test_gcm.c - mailgw's AES-GCM (firmware/lib/tls/gcm, MBEDTLS_GCM_ALT) through
 * mbedTLS's own API, as the TLS layer and PSA reach it.
 *
 * Known answers: the GCM specification's test cases 1-18 (McGrew and Viega: 96-, 64- and
 * 480-bit IVs, every key size) and NIST CAVP vectors (128-bit IVs, 1024-bit texts and
 * associated data, short tags, vectors whose tag must be refused, empty text or AD), on
 * the accelerated path this CPU has and on the portable one. Then: streaming in random
 * chunks equals one piece, in place too; a changed tag, ciphertext or AD is refused and
 * the output wiped; the error cases of mbedtls/gcm.h; the context wiped by free; the
 * counter's 32-bit wrap; the accelerated path against the portable one over random
 * lengths; the cipher layer and PSA's AEAD; and, where libcrypto is linked
 * (GCM_TEST_OPENSSL), OpenSSL's AES-GCM over random key sizes, IVs and lengths.
 *
 * Built twice (tests/tests.mk): for the host (ASan+UBSan, cmocka, OpenSSL) and for
 * aarch64, run under qemu-user (minicmocka.h). GCM_TEST_EXPECT in the environment names
 * the accelerated path the run must find ("aesni-pclmul", "armv8-ce"), so a run that
 * silently fell back to the portable path fails. GCM_TEST_SEED changes the random cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(GCM_TEST_STANDALONE)
#include "minicmocka.h"
#else
#include <cmocka.h>
#endif

#include "mbedtls/cipher.h"
#include "mbedtls/gcm.h"
#include "psa/crypto.h"

#if defined(GCM_TEST_OPENSSL)
#include <openssl/evp.h>
#endif

#include "testvec.h"

struct gcm_vec {
	const char *name;
	int ok; /* 0: the tag must be refused */
	const char *key, *iv, *ad, *pt, *ct, *tag;
};

/* Hex strings as published: the spec's test cases (as mbedTLS's self-test carries
 * them), then NIST CAVP's (as mbedTLS's test suite carries them). */
static const struct gcm_vec vecs[] = {
    {"GCM spec test case 1", 1, "00000000000000000000000000000000", "000000000000000000000000", "",
     "", "", "58e2fccefa7e3061367f1d57a4e7455a"},
    {"GCM spec test case 2", 1, "00000000000000000000000000000000", "000000000000000000000000", "",
     "00000000000000000000000000000000", "0388dace60b6a392f328c2b971b2fe78",
     "ab6e47d42cec13bdf53a67b21257bddf"},
    {"GCM spec test case 3", 1, "feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888", "",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
     "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
     "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
     "4d5c2af327cd64a62cf35abd2ba6fab4"},
    {"GCM spec test case 4", 1, "feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
     "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
     "5bc94fbc3221a5db94fae95ae7121a47"},
    {"GCM spec test case 5", 1, "feffe9928665731c6d6a8f9467308308", "cafebabefacedbad",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "61353b4c2806934a777ff51fa22a4755699b2a714fcdc6f83766e5f97b6c7423"
     "73806900e49f24b22b097544d4896b424989b5e1ebac0f07c23f4598",
     "3612d2e79e3b0785561be14aaca2fccb"},
    {"GCM spec test case 6", 1, "feffe9928665731c6d6a8f9467308308",
     "9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728"
     "c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "8ce24998625615b603a033aca13fb894be9112a5c3a211a8ba262a3cca7e2ca7"
     "01e4a9a4fba43c90ccdcb281d48c7c6fd62875d2aca417034c34aee5",
     "619cc5aefffe0bfa462af43c1699d050"},
    {"GCM spec test case 7", 1, "000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "", "", "cd33b28ac773f74ba00ed1f312572435"},
    {"GCM spec test case 8", 1, "000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "00000000000000000000000000000000",
     "98e7247c07f0fe411c267e4384b0f600", "2ff58d80033927ab8ef4d4587514f0fb"},
    {"GCM spec test case 9", 1, "feffe9928665731c6d6a8f9467308308feffe9928665731c",
     "cafebabefacedbaddecaf888", "",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
     "3980ca0b3c00e841eb06fac4872a2757859e1ceaa6efd984628593b40ca1e19c"
     "7d773d00c144c525ac619d18c84a3f4718e2448b2fe324d9ccda2710acade256",
     "9924a7c8587336bfb118024db8674a14"},
    {"GCM spec test case 10", 1, "feffe9928665731c6d6a8f9467308308feffe9928665731c",
     "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "3980ca0b3c00e841eb06fac4872a2757859e1ceaa6efd984628593b40ca1e19c"
     "7d773d00c144c525ac619d18c84a3f4718e2448b2fe324d9ccda2710",
     "2519498e80f1478f37ba55bd6d27618c"},
    {"GCM spec test case 11", 1, "feffe9928665731c6d6a8f9467308308feffe9928665731c",
     "cafebabefacedbad", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "0f10f599ae14a154ed24b36e25324db8c566632ef2bbb34f8347280fc4507057"
     "fddc29df9a471f75c66541d4d4dad1c9e93a19a58e8b473fa0f062f7",
     "65dcc57fcf623a24094fcca40d3533f8"},
    {"GCM spec test case 12", 1, "feffe9928665731c6d6a8f9467308308feffe9928665731c",
     "9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728"
     "c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "d27e88681ce3243c4830165a8fdcf9ff1de9a1d8e6b447ef6ef7b79828666e45"
     "81e79012af34ddd9e2f037589b292db3e67c036745fa22e7e9b7373b",
     "dcf566ff291c25bbb8568fc3d376a6d9"},
    {"GCM spec test case 13", 1, "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    {"GCM spec test case 14", 1, "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "00000000000000000000000000000000",
     "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {"GCM spec test case 15", 1, "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888", "",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
     "b094dac5d93471bdec1a502270e3cc6c"},
    {"GCM spec test case 16", 1, "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
    {"GCM spec test case 17", 1, "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbad", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "c3762df1ca787d32ae47c13bf19844cbaf1ae14d0b976afac52ff7d79bba9de0"
     "feb582d33934a4f0954cc2363bc73f7862ac430e64abe499f47c9b1f",
     "3a337dbf46a792c45e454913fe2ea8f2"},
    {"GCM spec test case 18", 1, "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728"
     "c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "5a8def2f0c9e53f1f75d7853659e2a20eeb2b22aafde6419a058ab4f6f746bf4"
     "0fc0c3b780f244452da3ebf1c5d82cdea2418997200ef82e44ae7e3f",
     "a44a8266ee1c8eb0c8b5d4cf5ae9f19a"},
    {"NIST CAVP (AES-128,128,0,0,128)", 1, "1014f74310d1718d1cc8f65f033aaf83",
     "6bb54c9fd83c12f5ba76cc83f7650d2c", "", "", "", "0b6b57db309eff920c8133b8691e0cac"},
    {"NIST CAVP (AES-128,128,0,1024,128)", 1, "b5beefbdd23360f2dd1e6e3c1ddbfebf",
     "81a8494f85be635d71e5663789162494",
     "f9ebf242b616a42e2057ede3b56b4c27349fed148817a710654de75d1cfc5f63"
     "04709b46ef1e2ccb42f877c50f484f8a8c6b0a25cff61d9537c3fd0c69bbc6ef"
     "21cbec8986cbc9b6e87963b8d9db91b7134afe69d3d9dec3a76b6c645f9c5528"
     "968f27396cc9e989d589369c90bbfefb249e3fa416451bc3d6592cc5feefbd76",
     "", "", "159a642185e0756d46f1db57af975fa3"},
    {"NIST CAVP (AES-128,128,1024,0,128)", 1, "ce0f8cfe9d64c4f4c045d11b97c2d918",
     "ad4c3627a494fc628316dc03faf81db8", "",
     "dfff250d380f363880963b42d6913c1ba11e8edf7c4ab8b76d79ccbaac628f54"
     "8ee542f48728a9a2620a0d69339c8291e8d398440d740e310908cdee7c273cc9"
     "1275ce7271ba12f69237998b07b789b3993aaac8dc4ec1914432a30f5172f79e"
     "a0539bd1f70b36d437e5170bc63039a5280816c05e1e41760b58e35696cebd55",
     "0de73d9702d9357c9e8619b7944e40732ac2f4dd3f1b42d8d7f36acb1f149799"
     "0d0ec3d626082cdb1384ec72a4c1d98955ba2a3aae6d81b24e9ce533eb5ede72"
     "10ae4a06d43f750138b8914d754d43bce416fee799cc4dd03949acedc34def7d"
     "6bde6ba41a4cf03d209689a3ad181f1b6dcf76ca25c87eb1c7459cc9f95ddc57",
     "5f6a3620e59fe8977286f502d0da7517"},
    {"NIST CAVP (AES-128,128,1024,1024,128)", 1, "839664bb6c352e64714254e4d590fb28",
     "5482db71d85039076a541aaba287e7f7",
     "4d75a10ff29414c74d945da046ed45dc02783da28c1ee58b59cbc6f953dd0978"
     "8b6d513f7366be523e6c2d877c36795942690ce9543050f7ab6f6f647d262360"
     "994f7f892e9f59941a8d440619fda8aa20350be14c13d7924c0451c1489da9a0"
     "cafd759c3798776245170ad88dbceb3cacde6ba122b656601ccb726e99d54115",
     "752c7e877663d10f90e5c96cce2686f4aa846a12272a0aba399e860f2838827c"
     "7c718365e704084fbe1e68adb27ad18e993c800da2e05bcaf44b651944bde766"
     "e7b3ac22f068b525dd0b80b490b3498d7b7199f60faf69fee338087f7a752fb5"
     "2147034de8922a3ed73b512d9c741f7bac1206e9b0871a970271f50688038ab7",
     "c7ee1c32f8bc0181b53ce57f116e863481db6f21666ba3fa19bd99ce83eee2d5"
     "73388a0459dfede92e701982a9cc93d697f313062dbea9866526f1d720a128ab"
     "97452a35f458637116f7d9294ffc76079539061dfeff9642a049db53d89f2480"
     "a6d74a05ff25d46d7048cc16d43f7888b5aff9957b5dc828973afccff63bd42a",
     "63c8aa731a60076725cd5f9973eeadb5"},
    {"NIST CAVP (AES-128,128,1024,1024,32)", 1, "2f54229167862034ef6c5ff4a1246697",
     "8168ef8ef278c832fc0ec846bc9f62e9",
     "abb9ed24137915265bddbd4b63f1d02efa2a99c8c373f19077c7e1c389feae36"
     "a7af42c661b0adc5dc8e4b5520d334e8e0e112d42c2977fa23485c0a85aef83f"
     "1e52d6749bd29cbebe14aea6ee1c1098aa96c6360b0192894bb2001c7c0fed7f"
     "00bb84953c23bfdda00818d1568fb94c1bd971982d6c01c12a35ef7af34f947f",
     "af2c89d3600329779abfbcf5be8bb83c357d4d2435fc8f4c413b956b898d22a8"
     "a889db9e2ff5e7229d7495576989695a0b52d796f9a23e9570b7caec6b460597"
     "49c29a293d31a6224baaf73711bc0e4a587abe9d0379adec6de04ce444676dfd"
     "8672e6660cfc79d7ee2e7625ce57dd4681bad66aa29bea2baf936122c3db17e7",
     "cd6dede25433fd3da6137001219b57aa54bdf6039a5a8d66138171b006194fe3"
     "e13d484e5cf57a1acdaa8e76f001df7bf41cbed2c5561a37a32113fa116d0918"
     "167c29dd9e7d46f7c18d9db33d7f1bc33ac21d159ddec57a2e158f0c0993c16d"
     "bf50582371100a8d7c55cd47c03473c5770ad562240f754c99d95ec593dca284",
     "4ab63349"},
    {"NIST CAVP decrypt, wrong tag (AES-128,128,1024,1024,128)", 0,
     "45cc35311eedf0ba093bf901931a7036", "fed5084de3c348f5a0adf4c2fd4e848a",
     "6e210914e4aed188d576f5ad7fc7e4cf7dd8d82f34ea3bcbdb7267cfd9045f80"
     "6978dbff3460c4e8ff8c4edb6ad2edba405a8d915729d89aab2116b36a70b54f"
     "5920a97f5a571977e0329eda6c696749be940eabfc6d8b0bbd6fbdb87657b3a7"
     "695da9f5d3a7384257f20e0becd8512d3705cc246ee6ca1e610921cf92603d79",
     "",
     "5dc8d7525eaad035c19714ae1b1e538cb66a4089027245351e0ad9297410fb3a"
     "0c1155407c10a8bb95a9ca624a9c9925dac003ee78926c6e90ff4ccdba10e8a7"
     "8bda1c4478162a0e302de5ff05fb0f94c89c3c7429fb94828bdcd97d21333c2e"
     "e72963ee6f056ce272b8bab007e653a42b01d1d2041ba627f169c8c0d32e6dae",
     "266a895fc21da5176b44b446d7d1921d"},
    {"NIST CAVP (AES-192,128,0,0,128)", 1, "f8022b8988383d5cfd7d9e0e208146e7868d3d714fe85744",
     "5fccd8cb551cfc9c20998da4cb981d49", "", "", "", "1b5c6c9a28f5edfa4cf99176b0f14077"},
    {"NIST CAVP (AES-192,128,0,1024,128)", 1, "66ebdc2332276784a69b6bb137161210bac9f1d6a36d6a4c",
     "647f41b60c6a579086ba8854d043495c",
     "da26eebd04c27bbe7fa7b54b87d3b7227f056dd9c085fabfcb59ec665a257c6d"
     "e68fd2c1c51aad5e6188e02a56f70aac49ba489802247ca327de57ea3cfa87e7"
     "2cae7dd82b50341a2133b03cd0027216fcd94cf43ec8a48e1c04145b597924b3"
     "7f7977db3ff23b8edc913357037d0fe02afe2bba6b91e27554edbfb77f51cc41",
     "", "", "420b320c2d616a0b11a7605a84f88e26"},
    {"NIST CAVP (AES-192,128,1024,0,128)", 1, "316660f013ced78a16701b35479ffb1f7c8c4e964c1b52b8",
     "919ceb172d2cb460bdb3b3e58debe889", "",
     "d262c15d08aea46f614c7f8f6a54631289e54ca97d698777388e137f431bb783"
     "601e7999e7af98775d7b87ce061d9ba56570ed8c58b6bbac5f12f751fc376ab0"
     "f14b36b40b2b5533727be3bbc9a51183405d5fd0121201ff592817d06613b504"
     "a3440b0e1a57e9ed1771766a9a5b789054f7032d20b23c5c37d77f293c677fd8",
     "5f5128f7f948f0cc9fb248a24b07c54247e40080a992acddb2615d90ef9328a1"
     "7bd5e9a698b00103855738aea55c4944cde4a9148bfa8db12233231861c455e5"
     "2c9889119ca402eabc8f41b27000156dd29b901024336cb2b7088eb5fd534ba5"
     "8f23caf140a8b2549486074e4edbfc262ed9c7c7ccaae24be8de873ad43cd13e",
     "ae22ec4c19e7616a5b877f168febd202"},
    {"NIST CAVP (AES-192,128,1024,1024,128)", 1, "263451f187b6dcab9d8dc4364217a483dd80c1d75f24fcea",
     "6c4552b3a03152aa464e88fd5b14356d",
     "435453a304fcd3c4bd6ab90d6ed8c54e6d21f75b9e56c9d48030499b04f6754c"
     "ff628c4c9216f7d8a0abed5b8b7ca128c099a7deab74ecfe2c4a494b30d74833"
     "f837d254aa00d75aa963ce9c041f1916eb63d673a4af3f88817c65d4c86f5a3c"
     "28a67de2aaf75f08d1b628af333e518a7e99d980571db608407d3f447563f2df",
     "5e236c282eb4646fbd16a95eff2b27873f625a7e919237d75989a8a112ea80ce"
     "8db0b4aeaf5da59c3b22649dabb584284ab9673ba7edef59043eb8e997636439"
     "41a4788e7cf11bad63e13c9ef08644044b76beef68928dac22975481da4afc72"
     "3b3ab3b498189542cbdffbc3f467d190cd02e9b36b6981122aa80cfa3aa3561f",
     "12dea5ea9b54957c689c7c9c6a711e2880645109a4057fafe3b32727a60ee1e2"
     "4f8450310d6b8402c26b307bb0bf3cb7c6407270d95590efb938e6d77359666b"
     "11a7a3833a7122697e959645d8e9d835e0bd39bdc30397115b4c348ea825c850"
     "c1e54a60a2522a6321e4b99fa2ad9215205628c595b07c6ffed939c779d23ab2",
     "585677e0f37ae13d886c38202c3860b7"},
    {"NIST CAVP (AES-192,128,1024,1024,32)", 1, "d3180703e1ec93b20d1ac4d64e85d5461d75f783bcd2f4fa",
     "916d72d515d3247ba48828d4113bda3b",
     "1002513035cb1d7e8b2710ff8c93cec55e2e2c2b56000d4c1182b5286736acd2"
     "d6f2fc9b82f71156dba6f77463805627e4bc38c96e091ecd945df7e996e7fc3b"
     "bfdae3d85ef1337fbce960fd1d60d06962a1669e9e8d20be151f6323cb38ef68"
     "ab5e838f02a0f379567f518f15d81b192cb25a42356807c1b9c02bef8309ff44",
     "b7b350db6fc0796e9fd0cb239f561bf7e27b2aa26b8e3e76d8b737caa1c1c5ad"
     "624a32f5709e4b751f8c21172d4d0f4ba38ca4d1d0e2570c084cabdd0e8880b3"
     "5140c84f775c3c301a9b260825e1fd75f9835777d6c0e23d359af1a5f7caef93"
     "4b91bee521531582b639be2cca87c2991f5525f4a2f64c30a1453013d73c16cf",
     "d590f2afcd64c574ece12c675f509efdffc01e1404cbafbc923c4b44390eff66"
     "dd839e6d800df67bc06f49f76911df3cec36a3a1521762d6d4a8ee602ebefde0"
     "178863443f918668fcde8a531f3b5ee0e4c379ecf3e75e7c59f753e41f4e3981"
     "1bd3e7dd3d6bbaa1e81fdbf8bd976384a6c4505f7e4270321c7329bba7f15506",
     "22e50ed0"},
    {"NIST CAVP decrypt, wrong tag (AES-192,128,1024,1024,128)", 0,
     "a2d069b826455d5e79e65db4f1d2b6a29ae9f401bc623917", "6d40a0c7813bc0410ff73f19bb5d89c9",
     "9960376b1898618d98c327c1761959d045488cc6198238bbe72662f276d47b41"
     "e8aebc06dbce63da5adcb302a61ade140c72b9cf9f6dfad6ecedd7401c9509fa"
     "e349d3c7debe35117776227ba167f2b75921d7321d79f4ebca13d20af1638a15"
     "67043365f179f4162795fe4fd80b5d832e4ca70e7bf9830bc272b82182f70d2e",
     "",
     "acd6225dc5b9109d56ea565ab38dd4db432a7ec08f0db04f1c6b691c96d2eaaa"
     "6be62da7cc7fd75f931716c7f39705ea7cf828f1a5a325955e9b2c77e7fb2d56"
     "2be6a89b3351b1b3d1355b43b73ed425049430314c16bf0836ed580e9390a3b8"
     "e2a652fddbfa939ca4c3c99765b09db7f30bf2ef88e1aa030e68958722cb0da3",
     "010195091d4e1684029e58439039d91e"},
    {"NIST CAVP (AES-256,128,0,0,128)", 1,
     "fb8094dd2eddb3d8004bb79134023ca2be4de9b668a9e4608abdf2130e8becb8",
     "491a14e13b591cf2f39da96b6882b5e5", "", "", "", "80883f2c925434a5edfcefd5b123d520"},
    {"NIST CAVP (AES-256,128,0,1024,128)", 1,
     "43c9e209da3c1971d986a45b92f2fa0d2d155183730d21d71ed8e2284ec308e3",
     "78bef655dfd8990b04d2a25678d7086d",
     "9d8c6734546797c581b9b1d0d4f05b27fe0539bd01655d2d1a8a1489cdf80422"
     "8753d77272bf6ded19d47a6abd6281ea9591d4bcc1be222305fdf689c5faa4c1"
     "1331cffbf42215469b81f61b40415d81cc37161e5c0258a67642b9b8ac627d6e"
     "39f43e485e1ff522ac742a07defa3569aeb59990cb44c4f3d952f8119ff1111d",
     "", "", "f15ddf938bbf52c2977adabaf4120de8"},
    {"NIST CAVP (AES-256,128,1024,0,128)", 1,
     "e06d5319210f4107ea7267fa2e8183fcbf74fd3b0579b856577177d9cb307d42",
     "f2b0564705430bc672964b049115e122", "",
     "2b9179d21cb884581b0e4f462455167f1f7899717245d4aed3d8db5983dacccc"
     "ebfc2130a20c284563bea5997cc0438c83d8fa7bb9e3588efed285a0fcc31456"
     "dc9a3122b97bb22f7edc36973475925828c323565e417ec95190db63b2188101"
     "6b5332f2e400bb4724c86a8ee0247149370ee5412f743dc6bf7ca5bcc31afa0f",
     "3fa342a76cb5d501e6a6fade14aab54a76620e4ea2287147d4ca2b9d62d2a643"
     "591e5df570ef474ee88ad22401c1059e3130a904e9bf359c4a6151ff2f3e4f78"
     "ef27a67d527da8e448b0ef5cdcfec85f3525e35f8d024540387e4cdcb1018c28"
     "1a1af7d4a3688a0fec4d9f473c816f7d4c4c369f70d7dfe8f1b7fa4f581098a1",
     "18f186ed1ee1f4f8b29db495587d0ab0"},
    {"NIST CAVP (AES-256,128,1024,1024,128)", 1,
     "cd8ec237009eab590dbd9b31e76513dfa3501701b1a706982944441d996e1839",
     "a3cae7aa59edb5f91ee21231002db8e2",
     "45fa52a0e8321d82caea95bd9506f7331923e2aa95e9238908f3ff30e17a9638"
     "9dfea75e225e34e1605354eaaf999a950f469c6e2e8722da5ad9daded6722bac"
     "a00e5d1b8e63266ad1b42cae161b9c089f4ffdfbbaa2f1fb0245d1a4c306d46e"
     "215e8c6c6ae37652a8f6016f92adb7695d40bde8c202ab9c2d70a96220b4b01b",
     "9eef7c9a0fa3e9a7fcc4b2f9d210a97d6653ded7913f2fb2de825a0dfd78ae1c"
     "ca68c040f2328009fffe62937d630ee9d6e0e67bc12c38c0b3d035697d4c2311"
     "371aacf41cce0d523016ee436a47d93af0df77011131856d072c718c310f0995"
     "b71530d70a3da881481f46f21dda62e3e4c898bb9f819b22f816b7c4e2fb6729",
     "833d58f0bbd735c6164ecaa295e95ad1143c564d24817d5f6dded5d2d9b2bed2"
     "dc05da4a8a16e20fdf90f839370832f9ddc94e4e564db3ae647068537669b168"
     "cc418ea7d0e55b2bb8fd861f9f893a3fdba6aace498bc6afe400fea6b2a8c589"
     "24c71ce5db98cfce835161a5cf6187870aa32f522d406c52f91c30543ea6aa16",
     "c1df4ee60b10f79173032e9baaf04d3f"},
    {"NIST CAVP (AES-256,128,1024,1024,32)", 1,
     "cadef353122cec1fdbc236c0ab195fc4d732655cef444c00b6cba5c61e01c614",
     "d765b5954e5b486885dc78ce6801516e",
     "ba0405745971eaec5d337fd22e0ad287551e7084f1c9c38231d675719e398035"
     "6e183a99a3c760ecf7a8ede5e0dac8d2bc13e135570ff6e91a854ea3b457263b"
     "0e77896fdf7bdf0b53c8276cfd1ea3e8e22450ff2665eacd24e5fb2be8937334"
     "9fc9e2967763d43cbd7adc9a376b1b4ab956ddf8b1a56d9385fb7e861bc34df7",
     "a3d5e55fa3110a268cf1414a483adab6d58ec8762a6e6be81269c0369e884033"
     "3503bc3688c7be001cdb84d163fa1dfb05f3b01ffff31151f1af780c796822e3"
     "d564f785964a546bcc2a320d81a2bc61058652a8594ae9b9b0917400e08d4a99"
     "fa161376ac53cba54c92889fd3497e233aff4e12cd85d57375c7c89e92cdf5f5",
     "9b99f984ae26f9cad5b3c8058757a0a5caef0fb86b8ecef0c1bca6b99bc72b0d"
     "5345a00ae75e37d4e651008bb733105d2172edaaf5bda4ad950a49de55a514e8"
     "82a470dca7c7bbfddde40d38fef4e1f3864fd7e212bbc0383d0bc29ab2303c89"
     "35d49c35d7d73df2fba0daeb5f37f9ab0d541766da71b33da1018a3f287ba312",
     "c374cd77"},
    {"NIST CAVP decrypt, wrong tag (AES-256,128,1024,1024,128)", 0,
     "b56f0c980acf7875cf7f27d53ad4a276adc126d0b93a5774ac4277eecad4309e",
     "b004c049decfb43d6f3ec13c56f839ef",
     "b2045b97fbb52a5fc6ff03d74e59dd696f3f442c0b555add8e6d111f835df420"
     "f45e970c4b32a84f0c45ba3710b5cd574001862b073efa5c9c4bd50127b2ce72"
     "d2c736c5e2723956da5a0acb82041a609386d07b50551c1d1fa4678886bac54b"
     "0bd080cc5ef607dca2a0d6a1e71f0e3833678bf8560bc059dae370ec94d43af6",
     "",
     "2c94299e36b7c4a825ecbc5a7809061e0a6761764a5a655ffdb0c20e5c3fcb10"
     "f4e93c68aa0a38c2acc5d06f2b7c4ff4fcf814b551bfefa248dbe06a09a0f153"
     "213538a31fa7cf7d646b5b53908d8978f514c9c4d6d66f2b3738024b5f9c3fd8"
     "6b6da0c818203183f4205f186ea44a54edb911b1a17c424c95852c8d271b2e93",
     "fce7234f7f76b5d502fd2b96fc9b1ce7"},
    {"NIST CAVP decrypt, wrong tag (AES-256,128,1024,1024,128)", 0,
     "1c5027c36e6caa1b3e5e45fead32b5e3126ac41f106c491b0b3a7c16502f4fe6",
     "3ee660f03858669e557e3effdd7df6bd",
     "93e803c79de6ad652def62cf3cd34f9addc9dd1774967a0f69e1d28361eb2cac"
     "c177c63c07657389ce23bbe65d73e0460946d31be495424655c7724eac044caf"
     "afe1540fcbd4218921367054e43e3d21e0fa6a0da9f8b20c5cdbd019c944a2d2"
     "ee6aa6760ee1131e58fec9da30790f5a873e792098a82ddf18c3813611d9242a",
     "",
     "58f0ceaa31c0025d2e6bb58720cce4b64f5f6c657c847ae42936eb1e343fea39"
     "7c8a8cf2f5ef02ffaec25f431900dcb0910cf32cea9eca3b78aed1c451c7af51"
     "066489f87b2a5f8cf28d6fdb6ce49d898b6167b590a3907be7618be11fb0922a"
     "3cfd18e73efef19e5cdc250fa33f61e3940c6482ae35f339e8c0a85a17379a4e",
     "ac33f5ffca9df4efc09271ff7a4f58e2"},
    {"NIST CAVS 14.0 AES-128, empty plaintext, AD length: 128 bytes, ciphertext updates: 0", 1,
     "e28c435211743a7872e4a0bd7602336a", "2ddbee94fcbfacea080ded468f67180c",
     "63190ef542656cc2b69a9b0daf8dbd2d38cd75f17b92d6d891c17b0337ad4fe4"
     "539d9154722fa430782a1d79620e974661918166e39c453c5a98759a13d27661"
     "38c7750e6cbdc7b6d7cbe44f3f4de7bb562d9bce6e6e2e815444842b89ba8b73"
     "454218c483e574ca886a84e8c9aa6f56dd1541a7e35a4a5b8f6a05ad5bb013e9",
     "", "", "2ce6d74cda466354a736636bf18acfc0"},
    {"NIST CAVS 14.0 AES-128, empty plaintext, AD length: 90 bytes, ciphertext updates: 0", 1,
     "20b5b6b854e187b058a84d57bc1538b6", "94c1935afc061cbf254b936f",
     "ca418e71dbf810038174eaa3719b3fcb80531c7110ad9192d105eeaafa15b819"
     "ac005668752b344ed1b22faf77048baf03dbddb3b47d6b00e95c4f005e0cc9b7"
     "627ccafd3f21b3312aa8d91d3fa0893fe5bff7d44ca46f23afe0",
     "", "", "b37286ebaf4a54e0ffc2a1deafc9f6db"},
    {"NIST CAVS 14.0 AES-128, empty AD, plaintext length: 51 bytes, AD updates: 0", 1,
     "594157ec4693202b030f33798b07176d", "49b12054082660803a1df3df", "",
     "3feef98a976a1bd634f364ac428bb59cd51fb159ec1789946918dbd50ea6c9d5"
     "94a3a31a5269b0da6936c29d063a5fa2cc8a1c",
     "c1b7a46a335f23d65b8db4008a49796906e225474f4fe7d39e55bf2efd97fd82"
     "d4167de082ae30fa01e465a601235d8d68bc69",
     "ba92d3661ce8b04687e8788d55417dc2"},
    {"NIST AES-128, empty AD and plaintext", 1, "11754cd72aec309bf52f7687212e8957",
     "3c819d9a9bed087615030b65", "", "", "", "250327c674aaf477aef2675748cf6971"},
};

#define NVEC (sizeof(vecs) / sizeof(vecs[0]))
#define MAXB 4096

struct gcm_case {
	uint8_t key[32], iv[128], ad[MAXB], pt[MAXB], ct[MAXB], tag[16];
	size_t klen, ivlen, adlen, len, taglen;
};

static void load(const struct gcm_vec *v, struct gcm_case *c)
{
	c->klen = unhex(v->key, c->key);
	c->ivlen = unhex(v->iv, c->iv);
	c->adlen = unhex(v->ad, c->ad);
	c->len = unhex(v->ct, c->ct);
	if (v->ok)
		assert_int_equal(unhex(v->pt, c->pt), c->len);
	c->taglen = unhex(v->tag, c->tag);
}

static void seed(void)
{
	rnd_seed("GCM_TEST_SEED");
}

/* A random key of a random size, and random IV, AD and text of the given lengths. */
static void random_case(struct gcm_case *c, size_t ivlen, size_t adlen, size_t len)
{
	c->klen = 16 + 8 * rnd_below(3);
	rnd_fill(c->key, c->klen);
	c->ivlen = ivlen;
	rnd_fill(c->iv, ivlen);
	c->adlen = adlen;
	rnd_fill(c->ad, adlen);
	c->len = len;
	rnd_fill(c->pt, len);
}

static void keyed(mbedtls_gcm_context *g, const uint8_t *key, size_t klen, bool portable)
{
	gcm_alt_force_portable(portable);
	mbedtls_gcm_init(g);
	assert_int_equal(mbedtls_gcm_setkey(g, MBEDTLS_CIPHER_ID_AES, key, (unsigned)(8 * klen)),
			 0);
	gcm_alt_force_portable(false);
	if (portable)
		assert_string_equal(gcm_alt_impl_name(g), "portable");
}

/* The accelerated path must be the one this CPU (or qemu's model) has: GCM_TEST_EXPECT,
 * else on x86-64 the kernel's CPU flags say whether it is aesni-pclmul. */
static void test_impl_detected(void **state)
{
	const char *want = getenv("GCM_TEST_EXPECT");
	const char *have = gcm_alt_impl_name(NULL);

	(void)state;
	printf("  (AES-GCM path here: %s)\n", have);
#if defined(__x86_64__)
	if (!want) {
		bool all = cpuinfo_has("aes") && cpuinfo_has("pclmulqdq") &&
			   cpuinfo_has("sse4_1") && cpuinfo_has("ssse3");

		want = all ? "aesni-pclmul" : "portable";
	}
#endif
	if (want && *want)
		assert_string_equal(have, want);
}

static void kat_one(const struct gcm_vec *v, bool portable)
{
	static struct gcm_case c;
	static uint8_t out[MAXB];
	uint8_t tag[16];
	mbedtls_gcm_context g;
	int rc;

	load(v, &c);
	keyed(&g, c.key, c.klen, portable);
	if (v->ok) {
		assert_int_equal(mbedtls_gcm_crypt_and_tag(&g, MBEDTLS_GCM_ENCRYPT, c.len, c.iv,
							   c.ivlen, c.ad, c.adlen, c.pt, out,
							   c.taglen, tag),
				 0);
		if (memcmp(out, c.ct, c.len) != 0 || memcmp(tag, c.tag, c.taglen) != 0)
			fail_msg("%s (%s): wrong ciphertext or tag", v->name,
				 gcm_alt_impl_name(&g));
	}
	memset(out, 0x5a, c.len);
	rc = mbedtls_gcm_auth_decrypt(&g, c.len, c.iv, c.ivlen, c.ad, c.adlen, c.tag, c.taglen,
				      c.ct, out);
	if (v->ok) {
		if (rc != 0 || memcmp(out, c.pt, c.len) != 0)
			fail_msg("%s (%s): decryption failed (%d)", v->name, gcm_alt_impl_name(&g),
				 rc);
	} else {
		if (rc != MBEDTLS_ERR_GCM_AUTH_FAILED)
			fail_msg("%s (%s): wrong tag accepted (%d)", v->name, gcm_alt_impl_name(&g),
				 rc);
		for (size_t i = 0; i < c.len; i++)
			assert_int_equal(out[i], 0);
	}
	mbedtls_gcm_free(&g);
}

static void test_known_answers(void **state)
{
	(void)state;
	for (size_t i = 0; i < NVEC; i++) {
		kat_one(&vecs[i], false);
		kat_one(&vecs[i], true);
	}
}

/* Feed ad and text in random chunk sizes (including empty ones); returns the tag. */
static void stream(mbedtls_gcm_context *g, int mode, const struct gcm_case *c, const uint8_t *in,
		   uint8_t *out, uint8_t *tag, size_t taglen)
{
	size_t off = 0, olen = 0, total = 0, max = 2 + rnd_below(80);

	assert_int_equal(mbedtls_gcm_starts(g, mode, c->iv, c->ivlen), 0);
	while (off < c->adlen) {
		size_t n = rnd_below(max);

		n = n > c->adlen - off ? c->adlen - off : n;
		assert_int_equal(mbedtls_gcm_update_ad(g, c->ad + off, n), 0);
		off += n;
	}
	off = 0;
	while (off < c->len) {
		size_t n = rnd_below(max);

		n = n > c->len - off ? c->len - off : n;
		/* an output buffer of exactly the input's size must do */
		assert_int_equal(mbedtls_gcm_update(g, in + off, n, out + off, n, &olen), 0);
		assert_int_equal(olen, n);
		off += n;
		total += olen;
	}
	assert_int_equal(mbedtls_gcm_finish(g, NULL, 0, &olen, tag, taglen), 0);
	assert_int_equal(olen, 0);
	assert_int_equal(total, c->len);
}

static void test_streaming_splits(void **state)
{
	static struct gcm_case c;
	static uint8_t out[MAXB], back[MAXB];
	uint8_t tag[16];

	(void)state;
	seed();
	for (size_t i = 0; i < NVEC; i++) {
		if (!vecs[i].ok)
			continue;
		load(&vecs[i], &c);
		for (int p = 0; p < 2; p++) {
			mbedtls_gcm_context g;

			keyed(&g, c.key, c.klen, p);
			for (int round = 0; round < 20; round++) {
				stream(&g, MBEDTLS_GCM_ENCRYPT, &c, c.pt, out, tag, c.taglen);
				if (memcmp(out, c.ct, c.len) != 0 ||
				    memcmp(tag, c.tag, c.taglen) != 0)
					fail_msg("%s (%s): streamed encryption differs",
						 vecs[i].name, gcm_alt_impl_name(&g));
				/* decryption in place */
				memcpy(back, c.ct, c.len);
				stream(&g, MBEDTLS_GCM_DECRYPT, &c, back, back, tag, c.taglen);
				if (memcmp(back, c.pt, c.len) != 0 ||
				    memcmp(tag, c.tag, c.taglen) != 0)
					fail_msg("%s (%s): streamed decryption differs",
						 vecs[i].name, gcm_alt_impl_name(&g));
			}
			mbedtls_gcm_free(&g);
		}
	}
}

/* Any changed bit of tag, ciphertext, AD or IV is refused, and the output wiped. */
static void test_tampering_refused(void **state)
{
	static struct gcm_case c;
	static uint8_t ct[MAXB], out[MAXB];
	uint8_t tag[16];

	(void)state;
	seed();
	for (int p = 0; p < 2; p++) {
		for (int trial = 0; trial < 200; trial++) {
			mbedtls_gcm_context g;
			int what = trial % 4, rc;
			size_t bit;

			random_case(&c, trial % 3 ? 12 : 1 + rnd_below(40), 1 + rnd_below(50),
				    1 + rnd_below(300));
			keyed(&g, c.key, c.klen, p);
			assert_int_equal(mbedtls_gcm_crypt_and_tag(&g, MBEDTLS_GCM_ENCRYPT, c.len,
								   c.iv, c.ivlen, c.ad, c.adlen,
								   c.pt, ct, 16, tag),
					 0);
			assert_int_equal(mbedtls_gcm_auth_decrypt(&g, c.len, c.iv, c.ivlen, c.ad,
								  c.adlen, tag, 16, ct, out),
					 0);
			assert_memory_equal(out, c.pt, c.len);
			if (what == 0) {
				bit = rnd_below(128);
				tag[bit / 8] ^= (uint8_t)(1 << bit % 8);
			} else if (what == 1) {
				bit = rnd_below(8 * c.len);
				ct[bit / 8] ^= (uint8_t)(1 << bit % 8);
			} else if (what == 2) {
				bit = rnd_below(8 * c.adlen);
				c.ad[bit / 8] ^= (uint8_t)(1 << bit % 8);
			} else {
				bit = rnd_below(8 * c.ivlen);
				c.iv[bit / 8] ^= (uint8_t)(1 << bit % 8);
			}
			memset(out, 0x77, c.len);
			rc = mbedtls_gcm_auth_decrypt(&g, c.len, c.iv, c.ivlen, c.ad, c.adlen, tag,
						      16, ct, out);
			assert_int_equal(rc, MBEDTLS_ERR_GCM_AUTH_FAILED);
			for (size_t i = 0; i < c.len; i++)
				assert_int_equal(out[i], 0);
			/* a truncated tag is checked over its length only, still refused when
			 * the data changed */
			if (what != 0)
				assert_int_equal(mbedtls_gcm_auth_decrypt(&g, c.len, c.iv, c.ivlen,
									  c.ad, c.adlen, tag, 4, ct,
									  out),
						 MBEDTLS_ERR_GCM_AUTH_FAILED);
			mbedtls_gcm_free(&g);
		}
	}
}

static void test_bad_input(void **state)
{
	uint8_t key[32] = {1}, iv[12] = {2}, buf[64] = {0}, tag[16];
	mbedtls_gcm_context g;
	size_t olen;

	(void)state;
	mbedtls_gcm_init(&g);
	/* not keyed yet */
	assert_int_equal(mbedtls_gcm_starts(&g, MBEDTLS_GCM_ENCRYPT, iv, 12),
			 MBEDTLS_ERR_GCM_BAD_INPUT);
	assert_int_equal(mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, key, 64),
			 MBEDTLS_ERR_GCM_BAD_INPUT);
	assert_int_equal(mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_CAMELLIA, key, 128),
			 MBEDTLS_ERR_GCM_BAD_INPUT);
	assert_int_equal(mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, key, 128), 0);
	assert_int_equal(mbedtls_gcm_starts(&g, MBEDTLS_GCM_ENCRYPT, iv, 0),
			 MBEDTLS_ERR_GCM_BAD_INPUT);
	assert_int_equal(mbedtls_gcm_crypt_and_tag(&g, MBEDTLS_GCM_ENCRYPT, 16, iv, 12, NULL, 0,
						   buf, buf, 3, tag),
			 MBEDTLS_ERR_GCM_BAD_INPUT);
	assert_int_equal(mbedtls_gcm_crypt_and_tag(&g, MBEDTLS_GCM_ENCRYPT, 16, iv, 12, NULL, 0,
						   buf, buf, 17, tag),
			 MBEDTLS_ERR_GCM_BAD_INPUT);
	assert_int_equal(mbedtls_gcm_starts(&g, MBEDTLS_GCM_ENCRYPT, iv, 12), 0);
	assert_int_equal(mbedtls_gcm_update(&g, buf, 16, buf, 15, &olen),
			 MBEDTLS_ERR_GCM_BUFFER_TOO_SMALL);
	/* output above the input and overlapping it */
	assert_int_equal(mbedtls_gcm_update(&g, buf, 32, buf + 1, 32, &olen),
			 MBEDTLS_ERR_GCM_BAD_INPUT);
	assert_int_equal(mbedtls_gcm_update(&g, buf, 16, buf, 16, &olen), 0);
	/* associated data after text */
	assert_int_equal(mbedtls_gcm_update_ad(&g, buf, 1), MBEDTLS_ERR_GCM_BAD_INPUT);
	assert_int_equal(mbedtls_gcm_finish(&g, NULL, 0, &olen, tag, 16), 0);
	mbedtls_gcm_free(&g);
	mbedtls_gcm_free(NULL);
}

/* Output below the input, overlapping it, as mbedTLS allows: same result as apart. */
static void test_overlap_below(void **state)
{
	static uint8_t key[16], iv[12], pt[600], ref[600], buf[700];
	uint8_t tag[16], tag2[16];

	(void)state;
	seed();
	rnd_fill(key, sizeof(key));
	rnd_fill(iv, sizeof(iv));
	rnd_fill(pt, sizeof(pt));
	for (int p = 0; p < 2; p++) {
		mbedtls_gcm_context g;

		keyed(&g, key, sizeof(key), p);
		assert_int_equal(mbedtls_gcm_crypt_and_tag(&g, MBEDTLS_GCM_ENCRYPT, sizeof(pt), iv,
							   12, NULL, 0, pt, ref, 16, tag),
				 0);
		for (size_t d = 1; d < 40; d += 7) {
			memcpy(buf + d, pt, sizeof(pt));
			assert_int_equal(mbedtls_gcm_crypt_and_tag(&g, MBEDTLS_GCM_ENCRYPT,
								   sizeof(pt), iv, 12, NULL, 0,
								   buf + d, buf, 16, tag2),
					 0);
			assert_memory_equal(buf, ref, sizeof(pt));
			assert_memory_equal(tag, tag2, 16);
		}
		mbedtls_gcm_free(&g);
	}
}

static void test_free_wipes(void **state)
{
	uint8_t key[32], iv[12] = {0}, buf[100] = {0}, tag[16];
	mbedtls_gcm_context g;
	const volatile uint8_t *p = (const volatile uint8_t *)&g;

	(void)state;
	memset(key, 0xa5, sizeof(key));
	for (int portable = 0; portable < 2; portable++) {
		keyed(&g, key, sizeof(key), portable);
		assert_int_equal(mbedtls_gcm_crypt_and_tag(&g, MBEDTLS_GCM_ENCRYPT, sizeof(buf), iv,
							   12, NULL, 0, buf, buf, 16, tag),
				 0);
		mbedtls_gcm_free(&g);
		for (size_t i = 0; i < sizeof(g); i++)
			if (p[i] != 0)
				fail_msg("byte %zu of the context not wiped by free", i);
	}
}

/* The counter is 32 bits and wraps (inc32) without touching the IV's bytes: place it
 * just below the wrap and compare the accelerated path with the portable one. */
static void test_counter_wrap(void **state)
{
	static uint8_t key[16], pt[64 * 16], a[64 * 16], b[64 * 16];
	uint8_t iv[12] = {0}, ta[16], tb[16];
	mbedtls_gcm_context ga, gb;
	size_t olen;

	(void)state;
	seed();
	rnd_fill(key, sizeof(key));
	rnd_fill(pt, sizeof(pt));
	keyed(&ga, key, sizeof(key), false);
	keyed(&gb, key, sizeof(key), true);
	assert_int_equal(mbedtls_gcm_starts(&ga, MBEDTLS_GCM_ENCRYPT, iv, 12), 0);
	assert_int_equal(mbedtls_gcm_starts(&gb, MBEDTLS_GCM_ENCRYPT, iv, 12), 0);
	memset(ga.y + 12, 0xff, 4);
	ga.y[15] = 0xf3;
	memcpy(gb.y, ga.y, 16);
	assert_int_equal(mbedtls_gcm_update(&ga, pt, sizeof(pt), a, sizeof(a), &olen), 0);
	assert_int_equal(mbedtls_gcm_update(&gb, pt, sizeof(pt), b, sizeof(b), &olen), 0);
	assert_memory_equal(a, b, sizeof(a));
	assert_int_equal(ga.y[15], 0x33); /* 0xfffffff3 + 64 */
	assert_int_equal(ga.y[11], 0);
	assert_memory_equal(ga.y, gb.y, 16);
	assert_int_equal(mbedtls_gcm_finish(&ga, NULL, 0, &olen, ta, 16), 0);
	assert_int_equal(mbedtls_gcm_finish(&gb, NULL, 0, &olen, tb, 16), 0);
	assert_memory_equal(ta, tb, 16);
	mbedtls_gcm_free(&ga);
	mbedtls_gcm_free(&gb);
}

/* Random key sizes, IVs, lengths and chunkings: the accelerated path and the portable
 * one give the same ciphertext and tag (on a CPU without the instructions both are the
 * portable path and this proves nothing: test_impl_detected says which). */
static void test_accelerated_equals_portable(void **state)
{
	static struct gcm_case c;
	static uint8_t a[MAXB], b[MAXB];
	uint8_t ta[16], tb[16];

	(void)state;
	seed();
	for (int trial = 0; trial < 400; trial++) {
		mbedtls_gcm_context ga, gb;

		/* every fifth text around a multiple of the 8-block groups */
		random_case(&c, trial % 4 ? 12 : 1 + rnd_below(100),
			    rnd_below(4) ? rnd_below(40) : rnd_below(600),
			    trial % 5 ? rnd_below(MAXB) : 128 * rnd_below(32) + rnd_below(3));
		keyed(&ga, c.key, c.klen, false);
		keyed(&gb, c.key, c.klen, true);
		stream(&ga, MBEDTLS_GCM_ENCRYPT, &c, c.pt, a, ta, 16);
		stream(&gb, MBEDTLS_GCM_ENCRYPT, &c, c.pt, b, tb, 16);
		if (memcmp(a, b, c.len) != 0 || memcmp(ta, tb, 16) != 0)
			fail_msg("trial %d: key %zu, iv %zu, ad %zu, text %zu: paths differ", trial,
				 c.klen, c.ivlen, c.adlen, c.len);
		stream(&ga, MBEDTLS_GCM_DECRYPT, &c, a, a, ta, 16);
		assert_memory_equal(a, c.pt, c.len);
		assert_memory_equal(ta, tb, 16);
		mbedtls_gcm_free(&ga);
		mbedtls_gcm_free(&gb);
	}
}

/* The callers of the module: the cipher layer (TLS records) and PSA's built-in AEAD. */
static void test_cipher_layer_and_psa(void **state)
{
	static struct gcm_case c;
	static uint8_t out[MAXB + 16], back[MAXB];
	const struct gcm_vec *v = &vecs[3]; /* spec test case 4: AD, partial last block */
	mbedtls_cipher_context_t cc;
	psa_key_attributes_t attr = PSA_KEY_ATTRIBUTES_INIT;
	psa_key_id_t kid;
	size_t olen;

	(void)state;
	load(v, &c);
	mbedtls_cipher_init(&cc);
	assert_int_equal(
	    mbedtls_cipher_setup(&cc, mbedtls_cipher_info_from_type(MBEDTLS_CIPHER_AES_128_GCM)),
	    0);
	assert_int_equal(mbedtls_cipher_setkey(&cc, c.key, 128, MBEDTLS_ENCRYPT), 0);
	assert_int_equal(mbedtls_cipher_auth_encrypt_ext(&cc, c.iv, c.ivlen, c.ad, c.adlen, c.pt,
							 c.len, out, sizeof(out), &olen, 16),
			 0);
	assert_int_equal(olen, c.len + 16);
	assert_memory_equal(out, c.ct, c.len);
	assert_memory_equal(out + c.len, c.tag, 16);
	mbedtls_cipher_free(&cc);

	assert_int_equal(psa_crypto_init(), PSA_SUCCESS);
	psa_set_key_type(&attr, PSA_KEY_TYPE_AES);
	psa_set_key_bits(&attr, 128);
	psa_set_key_usage_flags(&attr, PSA_KEY_USAGE_ENCRYPT | PSA_KEY_USAGE_DECRYPT);
	psa_set_key_algorithm(&attr, PSA_ALG_GCM);
	assert_int_equal(psa_import_key(&attr, c.key, 16, &kid), PSA_SUCCESS);
	assert_int_equal(psa_aead_encrypt(kid, PSA_ALG_GCM, c.iv, c.ivlen, c.ad, c.adlen, c.pt,
					  c.len, out, sizeof(out), &olen),
			 PSA_SUCCESS);
	assert_int_equal(olen, c.len + 16);
	assert_memory_equal(out, c.ct, c.len);
	assert_memory_equal(out + c.len, c.tag, 16);
	assert_int_equal(psa_aead_decrypt(kid, PSA_ALG_GCM, c.iv, c.ivlen, c.ad, c.adlen, out, olen,
					  back, sizeof(back), &olen),
			 PSA_SUCCESS);
	assert_int_equal(olen, c.len);
	assert_memory_equal(back, c.pt, c.len);
	out[0] ^= 1;
	assert_int_equal(psa_aead_decrypt(kid, PSA_ALG_GCM, c.iv, c.ivlen, c.ad, c.adlen, out,
					  c.len + 16, back, sizeof(back), &olen),
			 PSA_ERROR_INVALID_SIGNATURE);
	psa_destroy_key(kid);
	mbedtls_psa_crypto_free();
}

#if defined(GCM_TEST_OPENSSL)
static void openssl_seal(const struct gcm_case *c, uint8_t *ct, uint8_t *tag)
{
	const EVP_CIPHER *alg = c->klen == 16	? EVP_aes_128_gcm()
				: c->klen == 24 ? EVP_aes_192_gcm()
						: EVP_aes_256_gcm();

	openssl_aead_seal(alg, c->key, c->iv, c->ivlen, c->ad, c->adlen, c->pt, c->len, ct, tag);
}

/* OpenSSL's AES-GCM over random key sizes, IV lengths, AD and text lengths, on both paths,
 * in one piece or streamed in random chunks. */
static void test_openssl_cross_check(void **state)
{
	static struct gcm_case c;
	static uint8_t ref[MAXB], out[MAXB];
	uint8_t rtag[16], tag[16];

	(void)state;
	seed();
	for (int trial = 0; trial < 1500; trial++) {
		mbedtls_gcm_context g;

		random_case(&c, trial % 3 ? 12 : 1 + rnd_below(128),
			    rnd_below(3) ? rnd_below(64) : rnd_below(MAXB), rnd_below(MAXB));
		openssl_seal(&c, ref, rtag);
		keyed(&g, c.key, c.klen, trial % 2);
		if (trial % 3 == 0)
			assert_int_equal(mbedtls_gcm_crypt_and_tag(&g, MBEDTLS_GCM_ENCRYPT, c.len,
								   c.iv, c.ivlen, c.ad, c.adlen,
								   c.pt, out, 16, tag),
					 0);
		else
			stream(&g, MBEDTLS_GCM_ENCRYPT, &c, c.pt, out, tag, 16);
		if (memcmp(out, ref, c.len) != 0 || memcmp(tag, rtag, 16) != 0)
			fail_msg("trial %d (%s): key %zu, iv %zu, ad %zu, text %zu: differs from "
				 "OpenSSL",
				 trial, gcm_alt_impl_name(&g), c.klen, c.ivlen, c.adlen, c.len);
		assert_int_equal(mbedtls_gcm_auth_decrypt(&g, c.len, c.iv, c.ivlen, c.ad, c.adlen,
							  rtag, 16, ref, out),
				 0);
		assert_memory_equal(out, c.pt, c.len);
		mbedtls_gcm_free(&g);
	}
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_impl_detected),
		cmocka_unit_test(test_known_answers),
		cmocka_unit_test(test_streaming_splits),
		cmocka_unit_test(test_tampering_refused),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_overlap_below),
		cmocka_unit_test(test_free_wipes),
		cmocka_unit_test(test_counter_wrap),
		cmocka_unit_test(test_accelerated_equals_portable),
		cmocka_unit_test(test_cipher_layer_and_psa),
#if defined(GCM_TEST_OPENSSL)
		cmocka_unit_test(test_openssl_cross_check),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
