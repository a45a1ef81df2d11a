/**
 * NANP area code → region and IANA time zone, shipped as code (no download at run time).
 *
 * Coverage: the geographic area codes of the 50 US states, DC, the US territories in the NANP
 * and Canada, as assigned up to 2024, including the recent overlays we could list with
 * confidence. An overlay always shares its parent's region, so an overlay listed here before it
 * went live cannot misplace anyone; a code missing here makes the caller fall back to the wave's
 * default zone. Toll-free (8XX) and non-geographic (5XX, 600, 700, 900) codes are deliberately
 * absent: they say nothing about where the recipient lives.
 *
 * Where one area code spans two zones, `zone` is the zone of the majority of its population and
 * `otherZones` lists the minority zones that hold a sizeable share (≥ ~5 %), so a caller that
 * wants to be safe for everyone can send only when the window is open in every zone (see
 * `nextSendTime` with an array of zones). Small minorities are noted in comments only.
 *
 * Zones with the same rules as their neighbour use the neighbour's canonical zone (all of US
 * Eastern is `America/New_York`, including Indiana, Kentucky and Michigan codes): the results are
 * identical for any date since 2007.
 */

/** Where an area code is. */
export interface AreaCodeEntry {
  /** Two-letter US state, territory or Canadian province code (USPS / Canada Post). */
  readonly region: string;
  /** IANA zone of the majority of the area code's population. */
  readonly zone: string;
  /** Minority zones with a sizeable share of the area code's population. */
  readonly otherZones?: readonly string[];
}

const ET = 'America/New_York';
const CT = 'America/Chicago';
const MT = 'America/Denver';
const PT = 'America/Los_Angeles';

const table: Record<string, AreaCodeEntry> = {};

function add(region: string, zone: string, codes: string, otherZones?: readonly string[]): void {
  for (const code of codes.split(/\s+/).filter(Boolean)) {
    if (table[code]) throw new Error(`area code ${code} listed twice`);
    table[code] = otherZones ? { region, zone, otherZones } : { region, zone };
  }
}

// ── United States ─────────────────────────────────────────────────────────────────────────────
add('AL', CT, '205 251 256 334 659 938'); // Phenix City (334) keeps Eastern time unofficially.
add('AK', 'America/Anchorage', '907'); // The Aleutians west of 169°30′W use America/Adak (~5K people).
add('AZ', 'America/Phoenix', '480 520 602 623');
add('AZ', 'America/Phoenix', '928', [MT]); // The Navajo Nation (in 928) observes DST.
add('AR', CT, '327 479 501 870');
add('CA', PT, '209 213 279 310 323 341 350 408 415 424 442 510 530 559 562 619 626 628 650 657 661 669 707 714 747 760 805 818 820 831 840 858 909 916 925 949 951');
add('CO', MT, '303 719 720 970 983');
add('CT', ET, '203 475 860 959');
add('DE', ET, '302');
add('DC', ET, '202 771');
add('FL', ET, '239 305 321 324 352 386 407 561 645 656 689 727 728 754 772 786 813 863 904 941 954');
add('FL', CT, '448 850', [ET]); // Panhandle: Pensacola–Panama City on Central, Tallahassee on Eastern.
add('GA', ET, '229 404 470 478 678 706 762 770 912');
add('HI', 'Pacific/Honolulu', '808');
add('ID', 'America/Boise', '208 986', [PT]); // The northern panhandle is on Pacific time.
add('IL', CT, '217 224 309 312 331 447 464 618 630 708 730 773 779 815 847 872');
add('IN', ET, '260 317 463 574 765');
add('IN', ET, '812 930', [CT]); // Evansville and the south-west corner are on Central time.
add('IN', CT, '219'); // Lake, Porter and LaPorte counties (Gary, Hammond) are on Central time.
add('IA', CT, '319 515 563 641 712');
add('KS', CT, '316 620 785 913'); // A few western counties (in 620/785) are on Mountain time.
add('KY', ET, '502 606 859'); // A few south-central counties in 606 are on Central time.
add('KY', CT, '270 364', [ET]); // Western Kentucky is Central; Elizabethtown (Hardin Co.) is Eastern.
add('LA', CT, '225 318 337 504 985');
add('ME', ET, '207');
add('MD', ET, '227 240 301 410 443 667');
add('MA', ET, '339 351 413 508 617 774 781 857 978');
add('MI', ET, '231 248 269 313 517 586 616 734 810 947 989');
add('MI', ET, '906', [CT]); // Four Upper Peninsula counties on the Wisconsin border are Central.
add('MN', CT, '218 320 507 612 651 763 952');
add('MS', CT, '228 601 662 769');
add('MO', CT, '314 417 557 573 636 660 816 975');
add('MT', MT, '406');
add('NE', CT, '402 531');
add('NE', CT, '308', [MT]); // The western panhandle (Scottsbluff) is on Mountain time.
add('NV', PT, '702 725 775'); // West Wendover (775) is on Mountain time.
add('NH', ET, '603');
add('NJ', ET, '201 551 609 640 732 848 856 862 908 973');
add('NM', MT, '505 575');
add('NY', ET, '212 315 329 332 347 363 516 518 585 607 624 631 646 680 716 718 838 845 914 917 929 934');
add('NC', ET, '252 336 472 704 743 828 910 919 980 984');
add('ND', CT, '701', [MT]); // The south-west (Dickinson) is on Mountain time.
add('OH', ET, '216 220 234 283 326 330 380 419 436 440 513 567 614 740 937');
add('OK', CT, '405 539 572 580 918');
add('OR', PT, '458 503 541 971'); // Most of Malheur County (541) is on Mountain time.
add('PA', ET, '215 223 267 272 412 445 484 570 582 610 717 724 814 835 878');
add('RI', ET, '401');
add('SC', ET, '803 821 839 843 854 864');
add('SD', CT, '605', [MT]); // West River (Rapid City) is on Mountain time.
add('TN', ET, '423 729 865'); // A few counties in 423 are on Central time.
add('TN', CT, '615 629 731 901 931'); // A few counties in 931 are on Eastern time.
add('TX', CT, '210 214 254 281 325 346 361 409 430 432 469 512 682 713 726 737 806 817 830 832 903 936 940 945 956 972 979');
add('TX', MT, '915'); // El Paso; Hudspeth and Culberson counties (432) are Mountain too.
add('UT', MT, '385 435 801');
add('VT', ET, '802');
add('VA', ET, '276 434 540 571 686 703 757 804 826 948');
add('WA', PT, '206 253 360 425 509 564');
add('WV', ET, '304 681');
add('WI', CT, '262 274 353 414 534 608 715 920');
add('WY', MT, '307');

// ── US territories in the NANP ──────────────────────────────────────────────────────────────
add('PR', 'America/Puerto_Rico', '787 939');
add('VI', 'America/St_Thomas', '340');
add('GU', 'Pacific/Guam', '671');
add('MP', 'Pacific/Saipan', '670');
add('AS', 'Pacific/Pago_Pago', '684');

// ── Canada ────────────────────────────────────────────────────────────────────────────────────
add('AB', 'America/Edmonton', '368 403 587 780 825');
// East Kootenay (Mountain) and the Peace River (no DST) are small shares of 250.
add('BC', 'America/Vancouver', '236 250 604 672 778');
add('MB', 'America/Winnipeg', '204 431 584');
add('NB', 'America/Moncton', '428 506');
add('NL', 'America/St_Johns', '709 879'); // Most of Labrador is on Atlantic time.
add('NS', 'America/Halifax', '782 902'); // 782/902 also serve Prince Edward Island (same zone).
add('ON', 'America/Toronto', '226 249 289 343 365 382 416 437 519 548 613 647 683 705 742 753 905 942');
add('ON', 'America/Toronto', '807', ['America/Winnipeg']); // Thunder Bay is Eastern; Kenora is Central.
add('QC', 'America/Toronto', '263 354 367 418 438 450 468 514 579 581 819 873');
add('SK', 'America/Regina', '306 474 639'); // Saskatchewan keeps CST all year.
// 867 serves Yukon, the Northwest Territories and Nunavut in roughly equal shares.
add('NT', 'America/Edmonton', '867', ['America/Whitehorse', 'America/Iqaluit']);

/** The shipped NANP table, keyed by three-digit area code. */
export const NANP_AREA_CODES: Readonly<Record<string, AreaCodeEntry>> = Object.freeze(table);

/**
 * The area code of a NANP number in E.164 (`+1NPANXXXXXX`), or undefined for anything else
 * (other country codes, malformed numbers).
 */
export function nanpAreaCode(phoneE164: string): string | undefined {
  const m = /^\+1([2-9]\d\d)[2-9]\d{6}$/.exec(phoneE164);
  return m?.[1];
}

/** The table entry for a NANP number in E.164, or undefined when the code is not in the table. */
export function lookupAreaCode(phoneE164: string): AreaCodeEntry | undefined {
  const code = nanpAreaCode(phoneE164);
  return code === undefined ? undefined : NANP_AREA_CODES[code];
}
