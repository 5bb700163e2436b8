"""FIX 4.4 as data: the fields, MsgTypes and message layouts tokex validates against.

Facts of the FIX 4.4 specification (field numbers, types, enumerated values
and which fields each message may and must carry), kept as data and read
by :mod:`gateway.fix.spec`. Checked against the specification's XML form by
``tests/integration/gateway/fix/test_spec.py``.
"""

from __future__ import annotations

LAST_TAG = 956
"""FIX 4.4 defines the tags 1 to LAST_TAG, except :data:`UNUSED_TAGS`."""

UNUSED_TAGS = (
    "20 24 46 47 51 76 86 92 101 105 109 125 166 173 174 175 176 177 178 179 180 181 182 183 "
    "184 185 186 187 204 205 219 261 314 319 370 439 440 449 450 465 653 685 809 831"
)

MSG_TYPES = (
    "0 1 2 3 4 5 6 7 8 9 A AA AB AC AD AE AF AG AH AI AJ AK AL AM AN AO AP AQ AR AS AT AU AV "
    "AW AX AY AZ B BA BB BC BD BE BF BG BH C D E F G H J K L M N P Q R S T V W X Y Z a b c d e "
    "f g h i j k l m n o p q r s t u v w x y z"
)
"""Every MsgType FIX 4.4 defines."""

LAYOUTS = {
    "header": (
        "8! 9! 35! 49! 56! 115 128 90 91 34! 50 142 57 143 116 144 129 145 43 97 52! 122 212 "
        "213 347 369 627[628 629 630]"
    ),
    "trailer": ("93 89 10!"),
    "0": ("112"),
    "1": ("112!"),
    "2": ("7! 16!"),
    "3": ("45! 371 372 373 58 354 355"),
    "4": ("123 36!"),
    "5": ("58 354 355"),
    "A": ("98! 108! 95 96 141 789 383 384[372 385] 464 553 554"),
    "j": ("45 372! 379 380! 58 354 355"),
    "D": (
        "11! 526 583 453[448 447 452 802[523 803]] 229 75 1 660 581 589 590 591 70 78[79 661 "
        "736 467 539[524 525 538 804[545 805]] 80] 63 64 544 635 21 18 110 111 100 386[336 "
        "625] 81 55 65 48 22 454[455 456] 460 461 167 762 200 541 201 224 225 239 226 227 228 "
        "255 543 470 471 472 240 202 947 206 231 223 207 106 348 349 107 350 351 691 667 875 "
        "876 864[865 866 867 868] 873 874 913 914 915 918 788 916 917 919 898 711[311 312 309 "
        "305 457[458 459] 462 463 310 763 313 542 315 241 242 243 244 245 246 256 595 592 593 "
        "594 247 316 941 317 436 435 308 306 362 363 307 364 365 877 878 318 879 810 882 883 "
        "884 885 886 887[888 889]] 140 54! 114 60! 232[233 234] 854 38 152 516 468 469 40! 423 "
        "44 99 218 220 221 222 662 663 699 761 235 236 701 696 697 698 15 376 377 23 117 59 "
        "168 432 126 427 12 13 479 497 528 529 582 121 120 775 58 354 355 193 192 640 77 203 "
        "210 211 835 836 837 838 840 388 389 841 842 843 844 846 847 848 849 480 481 513 494"
    ),
    "F": (
        "41! 37 11! 526 583 66 586 1 660 581 453[448 447 452 802[523 803]] 55 65 48 22 454[455 "
        "456] 460 461 167 762 200 541 201 224 225 239 226 227 228 255 543 470 471 472 240 202 "
        "947 206 231 223 207 106 348 349 107 350 351 691 667 875 876 864[865 866 867 868] 873 "
        "874 913 914 915 918 788 916 917 919 898 711[311 312 309 305 457[458 459] 462 463 310 "
        "763 313 542 315 241 242 243 244 245 246 256 595 592 593 594 247 316 941 317 436 435 "
        "308 306 362 363 307 364 365 877 878 318 879 810 882 883 884 885 886 887[888 889]] 54! "
        "60! 38 152 516 468 469 376 58 354 355"
    ),
    "G": (
        "37 453[448 447 452 802[523 803]] 229 75 41! 11! 526 583 66 586 1 660 581 589 590 591 "
        "70 78[79 661 736 467 539[524 525 538 804[545 805]] 80] 63 64 544 635 21 18 110 111 "
        "100 386[336 625] 55 65 48 22 454[455 456] 460 461 167 762 200 541 201 224 225 239 226 "
        "227 228 255 543 470 471 472 240 202 947 206 231 223 207 106 348 349 107 350 351 691 "
        "667 875 876 864[865 866 867 868] 873 874 913 914 915 918 788 916 917 919 898 711[311 "
        "312 309 305 457[458 459] 462 463 310 763 313 542 315 241 242 243 244 245 246 256 595 "
        "592 593 594 247 316 941 317 436 435 308 306 362 363 307 364 365 877 878 318 879 810 "
        "882 883 884 885 886 887[888 889]] 54! 60! 854 38 152 516 468 469 40! 423 44 99 218 "
        "220 221 222 662 663 699 761 235 236 701 696 697 698 211 835 836 837 838 840 388 389 "
        "841 842 843 844 846 847 848 849 376 377 15 59 168 432 126 427 12 13 479 497 528 529 "
        "582 121 120 775 58 354 355 193 192 640 77 203 210 114 480 481 513 494"
    ),
    "q": (
        "11! 526 530! 336 625 55 65 48 22 454[455 456] 460 461 167 762 200 541 201 224 225 239 "
        "226 227 228 255 543 470 471 472 240 202 947 206 231 223 207 106 348 349 107 350 351 "
        "691 667 875 876 864[865 866 867 868] 873 874 311 312 309 305 457[458 459] 462 463 310 "
        "763 313 542 315 241 242 243 244 245 246 256 595 592 593 594 247 316 941 317 436 435 "
        "308 306 362 363 307 364 365 877 878 318 879 810 882 883 884 885 886 887[888 889] 54 "
        "60! 58 354 355"
    ),
    "i": (
        "131 117! 537 301 453[448 447 452 802[523 803]] 1 660 581 293 294 296![302! 311 312 "
        "309 305 457[458 459] 462 463 310 763 313 542 315 241 242 243 244 245 246 256 595 592 "
        "593 594 247 316 941 317 436 435 308 306 362 363 307 364 365 877 878 318 879 810 882 "
        "883 884 885 886 887[888 889] 367 304! 893 295![299! 55 65 48 22 454[455 456] 460 461 "
        "167 762 200 541 201 224 225 239 226 227 228 255 543 470 471 472 240 202 947 206 231 "
        "223 207 106 348 349 107 350 351 691 667 875 876 864[865 866 867 868] 873 874 555[600 "
        "601 602 603 604[605 606] 607 608 609 764 610 611 248 249 250 251 252 253 257 599 596 "
        "597 598 254 612 942 613 614 615 616 617 618 619 620 621 622 623 624 556 740 739 955 "
        "956] 132 133 134 135 62 188 190 189 191 631 632 633 634 60 336 625 64 40 193 192 642 "
        "643 15]]"
    ),
    "H": (
        "37 11! 526 583 453[448 447 452 802[523 803]] 790 1 660 55 65 48 22 454[455 456] 460 "
        "461 167 762 200 541 201 224 225 239 226 227 228 255 543 470 471 472 240 202 947 206 "
        "231 223 207 106 348 349 107 350 351 691 667 875 876 864[865 866 867 868] 873 874 913 "
        "914 915 918 788 916 917 919 898 711[311 312 309 305 457[458 459] 462 463 310 763 313 "
        "542 315 241 242 243 244 245 246 256 595 592 593 594 247 316 941 317 436 435 308 306 "
        "362 363 307 364 365 877 878 318 879 810 882 883 884 885 886 887[888 889]] 54!"
    ),
    "V": (
        "262! 263! 264! 265 266 286 546 547 267![269!] 146![55 65 48 22 454[455 456] 460 461 "
        "167 762 200 541 201 224 225 239 226 227 228 255 543 470 471 472 240 202 947 206 231 "
        "223 207 106 348 349 107 350 351 691 667 875 876 864[865 866 867 868] 873 874 711[311 "
        "312 309 305 457[458 459] 462 463 310 763 313 542 315 241 242 243 244 245 246 256 595 "
        "592 593 594 247 316 941 317 436 435 308 306 362 363 307 364 365 877 878 318 879 810 "
        "882 883 884 885 886 887[888 889]] 555[600 601 602 603 604[605 606] 607 608 609 764 "
        "610 611 248 249 250 251 252 253 257 599 596 597 598 254 612 942 613 614 615 616 617 "
        "618 619 620 621 622 623 624 556 740 739 955 956]] 386[336 625] 815 812"
    ),
}
"""Each message's fields: ``N`` optional, ``N!`` required, ``N[...]`` a repeating group
(counted by N, delimited by its first member).
"""

FIELDS = {
    1: ("STRING", ""),
    7: ("SEQNUM", ""),
    8: ("STRING", ""),
    9: ("LENGTH", ""),
    10: ("STRING", ""),
    11: ("STRING", ""),
    12: ("AMT", ""),
    13: ("CHAR", "1 2 3 4 5 6"),
    15: ("CURRENCY", ""),
    16: ("SEQNUM", ""),
    18: (
        "MULTIPLEVALUESTRING",
        "1 2 3 4 5 6 7 8 9 0 A B C D E F G H I J K L M N O P Q R S U V W X Y Z a b c d e",
    ),
    21: ("CHAR", "1 2 3"),
    22: ("STRING", "1 2 3 4 5 6 7 8 9 A B C D E F G H I J"),
    23: ("STRING", ""),
    34: ("SEQNUM", ""),
    35: (
        "STRING",
        "0 1 2 3 4 5 6 7 8 9 A B C D E F G H J K L M N P Q R S T V W X Y Z a b c d e f g h i j "
        "k l m n o p q r s t u v w x y z AA AB AC AD AE AF AG AH AI AJ AK AL AM AN AO AP AQ AR "
        "AS AT AU AV AW AX AY AZ BA BB BC BD BE BF BG BH",
    ),
    36: ("SEQNUM", ""),
    37: ("STRING", ""),
    38: ("QTY", ""),
    40: ("CHAR", "1 2 3 4 6 7 8 9 D E G I J K L M P"),
    41: ("STRING", ""),
    43: ("BOOLEAN", "Y N"),
    44: ("PRICE", ""),
    45: ("SEQNUM", ""),
    48: ("STRING", ""),
    49: ("STRING", ""),
    50: ("STRING", ""),
    52: ("UTCTIMESTAMP", ""),
    54: ("CHAR", "1 2 3 4 5 6 7 8 9 A B C D E F G"),
    55: ("STRING", ""),
    56: ("STRING", ""),
    57: ("STRING", ""),
    58: ("STRING", ""),
    59: ("CHAR", "0 1 2 3 4 5 6 7"),
    60: ("UTCTIMESTAMP", ""),
    62: ("UTCTIMESTAMP", ""),
    63: ("CHAR", "0 1 2 3 4 5 6 7 8 9"),
    64: ("LOCALMKTDATE", ""),
    65: ("STRING", ""),
    66: ("STRING", ""),
    70: ("STRING", ""),
    75: ("LOCALMKTDATE", ""),
    77: ("CHAR", "O C R F"),
    78: ("NUMINGROUP", ""),
    79: ("STRING", ""),
    80: ("QTY", ""),
    81: ("CHAR", "0 1 2 3 4 5 6"),
    89: ("DATA", ""),
    90: ("LENGTH", ""),
    91: ("DATA", ""),
    93: ("LENGTH", ""),
    95: ("LENGTH", ""),
    96: ("DATA", ""),
    97: ("BOOLEAN", "Y N"),
    98: ("INT", "0 1 2 3 4 5 6"),
    99: ("PRICE", ""),
    100: ("EXCHANGE", ""),
    106: ("STRING", ""),
    107: ("STRING", ""),
    108: ("INT", ""),
    110: ("QTY", ""),
    111: ("QTY", ""),
    112: ("STRING", ""),
    114: ("BOOLEAN", "Y N"),
    115: ("STRING", ""),
    116: ("STRING", ""),
    117: ("STRING", ""),
    120: ("CURRENCY", ""),
    121: ("BOOLEAN", "Y N"),
    122: ("UTCTIMESTAMP", ""),
    123: ("BOOLEAN", "Y N"),
    126: ("UTCTIMESTAMP", ""),
    128: ("STRING", ""),
    129: ("STRING", ""),
    131: ("STRING", ""),
    132: ("PRICE", ""),
    133: ("PRICE", ""),
    134: ("QTY", ""),
    135: ("QTY", ""),
    140: ("PRICE", ""),
    141: ("BOOLEAN", "Y N"),
    142: ("STRING", ""),
    143: ("STRING", ""),
    144: ("STRING", ""),
    145: ("STRING", ""),
    146: ("NUMINGROUP", ""),
    152: ("QTY", ""),
    167: (
        "STRING",
        "FUT OPT EUSUPRA FAC FADN PEF SUPRA CORP CPP CB DUAL EUCORP XLINKD STRUCT YANK FOR CS "
        "PS BRADY EUSOV TBOND TINT TIPS TCAL TPRN UST USTB TNOTE TBILL REPO FORWARD BUYSELL "
        "SECLOAN SECPLEDGE TERM RVLV RVLVTRM BRIDGE LOFC SWING DINP DEFLTED WITHDRN REPLACD "
        "MATURED AMENDED RETIRED BA BN BOX CD CL CP DN EUCD EUCP LQN MTN ONITE PN PZFJ STN TD "
        "XCN YCD ABS CMBS CMO IET MBS MIO MPO MPP MPT PFAND TBA AN COFO COFP GO MT RAN REV "
        "SPCLA SPCLO SPCLT TAN TAXA TECP TRAN VRDN WAR MF MLEG NONE",
    ),
    168: ("UTCTIMESTAMP", ""),
    188: ("PRICE", ""),
    189: ("PRICEOFFSET", ""),
    190: ("PRICE", ""),
    191: ("PRICEOFFSET", ""),
    192: ("QTY", ""),
    193: ("LOCALMKTDATE", ""),
    200: ("MONTHYEAR", ""),
    201: ("INT", "0 1"),
    202: ("PRICE", ""),
    203: ("INT", "0 1"),
    206: ("CHAR", ""),
    207: ("EXCHANGE", ""),
    210: ("QTY", ""),
    211: ("FLOAT", ""),
    212: ("LENGTH", ""),
    213: ("DATA", ""),
    218: ("PRICEOFFSET", ""),
    220: ("CURRENCY", ""),
    221: ("STRING", ""),
    222: ("STRING", ""),
    223: ("PERCENTAGE", ""),
    224: ("LOCALMKTDATE", ""),
    225: ("LOCALMKTDATE", ""),
    226: ("INT", ""),
    227: ("PERCENTAGE", ""),
    228: ("FLOAT", ""),
    229: ("LOCALMKTDATE", ""),
    231: ("FLOAT", ""),
    232: ("NUMINGROUP", ""),
    233: (
        "STRING",
        "AMT AUTOREINV BANKQUAL BGNCON COUPON CURRENCY CUSTOMDATE GEOG HAIRCUT INSURED ISSUE "
        "ISSUER ISSUESIZE LOOKBACK LOT LOTVAR MAT MATURITY MAXSUBS MINQTY MININCR MINDNOM "
        "PAYFREQ PIECES PMAX PPM PPL PPT PRICE PRICEFREQ PROD PROTECT PURPOSE PXSOURCE RATING "
        "REDEMPTION RESTRICTED SECTOR SECTYPE STRUCT SUBSFREQ SUBSLEFT TEXT TRDVAR WAC WAL "
        "WALA WAM WHOLE YIELD",
    ),
    234: ("STRING", ""),
    235: (
        "STRING",
        "AFTERTAX ANNUAL ATISSUE AVGMATURITY BOOK CALL CHANGE CLOSE COMPOUND CURRENT GROSS "
        "GOVTEQUIV INFLATION INVERSEFLOATER LASTCLOSE LASTMONTH LASTQUARTER LASTYEAR "
        "LONGAVGLIFE MARK MATURITY NEXTREFUND OPENAVG PUT PREVCLOSE PROCEEDS SEMIANNUAL "
        "SHORTAVGLIFE SIMPLE TAXEQUIV TENDER TRUE VALUE1/32 WORST",
    ),
    236: ("PERCENTAGE", ""),
    239: ("STRING", ""),
    240: ("LOCALMKTDATE", ""),
    241: ("LOCALMKTDATE", ""),
    242: ("LOCALMKTDATE", ""),
    243: ("STRING", ""),
    244: ("INT", ""),
    245: ("PERCENTAGE", ""),
    246: ("FLOAT", ""),
    247: ("LOCALMKTDATE", ""),
    248: ("LOCALMKTDATE", ""),
    249: ("LOCALMKTDATE", ""),
    250: ("STRING", ""),
    251: ("INT", ""),
    252: ("PERCENTAGE", ""),
    253: ("FLOAT", ""),
    254: ("LOCALMKTDATE", ""),
    255: ("STRING", ""),
    256: ("STRING", ""),
    257: ("STRING", ""),
    262: ("STRING", ""),
    263: ("CHAR", "0 1 2"),
    264: ("INT", ""),
    265: ("INT", "0 1"),
    266: ("BOOLEAN", "Y N"),
    267: ("NUMINGROUP", ""),
    269: ("CHAR", "0 1 2 3 4 5 6 7 8 9 A B C"),
    286: ("MULTIPLEVALUESTRING", "0 1 2 3 4 5"),
    293: ("QTY", ""),
    294: ("QTY", ""),
    295: ("NUMINGROUP", ""),
    296: ("NUMINGROUP", ""),
    299: ("STRING", ""),
    301: ("INT", "0 1 2"),
    302: ("STRING", ""),
    304: ("INT", ""),
    305: ("STRING", ""),
    306: ("STRING", ""),
    307: ("STRING", ""),
    308: ("EXCHANGE", ""),
    309: ("STRING", ""),
    310: ("STRING", ""),
    311: ("STRING", ""),
    312: ("STRING", ""),
    313: ("MONTHYEAR", ""),
    315: ("INT", ""),
    316: ("PRICE", ""),
    317: ("CHAR", ""),
    318: ("CURRENCY", ""),
    336: ("STRING", ""),
    347: ("STRING", "ISO-2022-JP EUC-JP Shift_JIS UTF-8"),
    348: ("LENGTH", ""),
    349: ("DATA", ""),
    350: ("LENGTH", ""),
    351: ("DATA", ""),
    354: ("LENGTH", ""),
    355: ("DATA", ""),
    362: ("LENGTH", ""),
    363: ("DATA", ""),
    364: ("LENGTH", ""),
    365: ("DATA", ""),
    367: ("UTCTIMESTAMP", ""),
    369: ("SEQNUM", ""),
    371: ("INT", ""),
    372: ("STRING", ""),
    373: ("INT", "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 99"),
    376: ("STRING", ""),
    377: ("BOOLEAN", "Y N"),
    379: ("STRING", ""),
    380: ("INT", "0 1 2 3 4 5 6 7"),
    383: ("LENGTH", ""),
    384: ("NUMINGROUP", ""),
    385: ("CHAR", "S R"),
    386: ("NUMINGROUP", ""),
    388: ("CHAR", "0 1 2 3 4 5 6"),
    389: ("FLOAT", ""),
    423: ("INT", "1 2 3 4 5 6 7 8 9 10 11"),
    427: ("INT", "0 1 2"),
    432: ("LOCALMKTDATE", ""),
    435: ("PERCENTAGE", ""),
    436: ("FLOAT", ""),
    447: ("CHAR", "B C D E F G H 1 2 3 4 5 6 7 8 9 A I"),
    448: ("STRING", ""),
    452: (
        "INT",
        "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 24 25 26 27 28 29 30 31 32 "
        "33 34 35 36 37 38",
    ),
    453: ("NUMINGROUP", ""),
    454: ("NUMINGROUP", ""),
    455: ("STRING", ""),
    456: ("STRING", ""),
    457: ("NUMINGROUP", ""),
    458: ("STRING", ""),
    459: ("STRING", ""),
    460: ("INT", "1 2 3 4 5 6 7 8 9 10 11 12 13"),
    461: ("STRING", ""),
    462: ("INT", ""),
    463: ("STRING", ""),
    464: ("BOOLEAN", "Y N"),
    467: ("STRING", ""),
    468: ("CHAR", "0 1 2"),
    469: ("FLOAT", ""),
    470: ("COUNTRY", ""),
    471: ("STRING", ""),
    472: ("STRING", ""),
    479: ("CURRENCY", ""),
    480: ("CHAR", "Y N M O"),
    481: ("CHAR", "Y N 1 2 3"),
    494: ("STRING", ""),
    497: ("CHAR", "Y N"),
    513: ("STRING", ""),
    516: ("PERCENTAGE", ""),
    523: ("STRING", ""),
    524: ("STRING", ""),
    525: ("CHAR", ""),
    526: ("STRING", ""),
    528: ("CHAR", "A G I P R W"),
    529: ("MULTIPLEVALUESTRING", "1 2 3 4 5 6 7 8 9 A"),
    530: ("CHAR", "1 2 3 4 5 6 7"),
    537: ("INT", "0 1 2 3"),
    538: ("INT", ""),
    539: ("NUMINGROUP", ""),
    541: ("LOCALMKTDATE", ""),
    542: ("LOCALMKTDATE", ""),
    543: ("STRING", ""),
    544: ("CHAR", "1 2 3"),
    545: ("STRING", ""),
    546: ("MULTIPLEVALUESTRING", "1 2 3"),
    547: ("BOOLEAN", "Y N"),
    553: ("STRING", ""),
    554: ("STRING", ""),
    555: ("NUMINGROUP", ""),
    556: ("CURRENCY", ""),
    581: ("INT", "1 2 3 4 6 7 8"),
    582: ("INT", "1 2 3 4"),
    583: ("STRING", ""),
    586: ("UTCTIMESTAMP", ""),
    589: ("CHAR", "0 1 2"),
    590: ("CHAR", "0 1 2"),
    591: ("CHAR", "0 1"),
    592: ("COUNTRY", ""),
    593: ("STRING", ""),
    594: ("STRING", ""),
    595: ("STRING", ""),
    596: ("COUNTRY", ""),
    597: ("STRING", ""),
    598: ("STRING", ""),
    599: ("STRING", ""),
    600: ("STRING", ""),
    601: ("STRING", ""),
    602: ("STRING", ""),
    603: ("STRING", ""),
    604: ("NUMINGROUP", ""),
    605: ("STRING", ""),
    606: ("STRING", ""),
    607: ("INT", ""),
    608: ("STRING", ""),
    609: ("STRING", ""),
    610: ("MONTHYEAR", ""),
    611: ("LOCALMKTDATE", ""),
    612: ("PRICE", ""),
    613: ("CHAR", ""),
    614: ("FLOAT", ""),
    615: ("PERCENTAGE", ""),
    616: ("EXCHANGE", ""),
    617: ("STRING", ""),
    618: ("LENGTH", ""),
    619: ("DATA", ""),
    620: ("STRING", ""),
    621: ("LENGTH", ""),
    622: ("DATA", ""),
    623: ("FLOAT", ""),
    624: ("CHAR", ""),
    625: ("STRING", ""),
    627: ("NUMINGROUP", ""),
    628: ("STRING", ""),
    629: ("UTCTIMESTAMP", ""),
    630: ("SEQNUM", ""),
    631: ("PRICE", ""),
    632: ("PERCENTAGE", ""),
    633: ("PERCENTAGE", ""),
    634: ("PERCENTAGE", ""),
    635: ("STRING", "B C E F H I L M 1 2 3 4 5 9"),
    640: ("PRICE", ""),
    642: ("PRICEOFFSET", ""),
    643: ("PRICEOFFSET", ""),
    660: ("INT", "1 2 3 4 5 99"),
    661: ("INT", ""),
    662: ("PRICE", ""),
    663: ("INT", ""),
    667: ("MONTHYEAR", ""),
    691: ("STRING", ""),
    696: ("LOCALMKTDATE", ""),
    697: ("PRICE", ""),
    698: ("INT", ""),
    699: ("STRING", ""),
    701: ("LOCALMKTDATE", ""),
    711: ("NUMINGROUP", ""),
    736: ("CURRENCY", ""),
    739: ("LOCALMKTDATE", ""),
    740: ("STRING", ""),
    761: ("STRING", ""),
    762: ("STRING", ""),
    763: ("STRING", ""),
    764: ("STRING", ""),
    775: ("INT", "0 1 2"),
    788: ("INT", "1 2 3 4"),
    789: ("SEQNUM", ""),
    790: ("STRING", ""),
    802: ("NUMINGROUP", ""),
    803: ("INT", "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26"),
    804: ("NUMINGROUP", ""),
    805: ("INT", ""),
    810: ("PRICE", ""),
    812: ("INT", ""),
    815: ("INT", "0 1 2 3"),
    835: ("INT", "0 1"),
    836: ("INT", "0 1 2 3"),
    837: ("INT", "0 1 2"),
    838: ("INT", "1 2"),
    840: ("INT", "1 2 3 4"),
    841: ("INT", "0 1"),
    842: ("INT", "0 1 2 3"),
    843: ("INT", "0 1 2"),
    844: ("INT", "1 2"),
    846: ("INT", "1 2 3 4"),
    847: ("INT", "1 2 3"),
    848: ("STRING", ""),
    849: ("PERCENTAGE", ""),
    854: ("INT", "0 1"),
    864: ("NUMINGROUP", ""),
    865: ("INT", "1 2 3 4 99"),
    866: ("LOCALMKTDATE", ""),
    867: ("PRICE", ""),
    868: ("STRING", ""),
    873: ("LOCALMKTDATE", ""),
    874: ("LOCALMKTDATE", ""),
    875: ("INT", "1 2 99"),
    876: ("STRING", ""),
    877: ("STRING", ""),
    878: ("STRING", ""),
    879: ("QTY", ""),
    882: ("PRICE", ""),
    883: ("PRICE", ""),
    884: ("AMT", ""),
    885: ("AMT", ""),
    886: ("AMT", ""),
    887: ("NUMINGROUP", ""),
    888: ("STRING", ""),
    889: ("STRING", ""),
    893: ("BOOLEAN", "Y N"),
    898: ("PERCENTAGE", ""),
    913: ("STRING", ""),
    914: ("STRING", ""),
    915: ("LOCALMKTDATE", ""),
    916: ("LOCALMKTDATE", ""),
    917: ("LOCALMKTDATE", ""),
    918: ("CURRENCY", ""),
    919: ("INT", "0 1 2 3"),
    941: ("CURRENCY", ""),
    942: ("CURRENCY", ""),
    947: ("CURRENCY", ""),
    955: ("MONTHYEAR", ""),
    956: ("LOCALMKTDATE", ""),
}
"""Type and enumerated values (space-separated; empty: any) of each field."""
