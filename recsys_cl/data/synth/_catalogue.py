"""Fixed vocabularies of the synthetic catalogues: H&M's hierarchy and codes, the styles data's value sets.

Names and codes follow the real Kaggle files where they are known (index codes and groups, section
names, garment groups, common product types, colour groups, graphical appearances); numbers that could
not be checked against the real files are plausible stand-ins in the same ranges and formats.
Each product type also carries what the generator needs beyond the file: the drawing ``shape`` for
images, a ``season`` (summer / winter / all) and a base price in SEK.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from recsys_cl.errors import InputError


@dataclasses.dataclass(frozen=True)
class ProductType:
    no: int
    name: str
    group: str  # product_group_name
    garment_group: int  # key of GARMENT_GROUPS
    shape: str  # key of the image drawer
    season: str  # "summer" | "winter" | "all"
    price_sek: float  # typical full price, SEK
    words: tuple[str, ...]  # nouns used in prod_name
    materials: tuple[str, ...]
    features: tuple[str, ...]


GARMENT_GROUPS: dict[int, str] = {
    1002: "Jersey Basic",
    1005: "Jersey Fancy",
    1003: "Knitwear",
    1009: "Trousers",
    1010: "Blouses",
    1011: "Shirts",
    1012: "Skirts",
    1013: "Dresses Ladies",
    1016: "Trousers Denim",
    1007: "Outdoor",
    1017: "Under-, Nightwear",
    1018: "Swimwear",
    1019: "Accessories",
    1020: "Shoes",
    1021: "Socks and Tights",
    1025: "Shorts",
}

#: department name stem per garment group (the real file's departments are finer; this keeps the flavour).
DEPARTMENT_STEM: dict[int, str] = {
    1002: "Jersey Basic",
    1005: "Jersey",
    1003: "Knitwear",
    1009: "Trouser",
    1010: "Blouse",
    1011: "Shirt",
    1012: "Skirt",
    1013: "Dress",
    1016: "Denim trousers",
    1007: "Outwear",
    1017: "Clean Lingerie",
    1018: "Swimwear",
    1019: "Small Accessories",
    1020: "Shoes",
    1021: "Socks",
    1025: "Shorts",
}

_JERSEY = ("cotton jersey", "soft jersey", "organic cotton jersey", "viscose jersey", "slub jersey")
_WOVEN = ("woven fabric", "cotton twill", "crêpe weave", "linen blend", "satin")
_KNIT = ("soft knit", "fine-knit cotton", "rib-knit fabric", "wool blend", "chunky knit")

PRODUCT_TYPES: tuple[ProductType, ...] = (
    ProductType(253, "Vest top", "Garment Upper body", 1002, "top", "summer", 79,
                ("strap top", "tank", "vest"), _JERSEY, ("narrow shoulder straps", "a racer back", "a scoop neck")),
    ProductType(255, "T-shirt", "Garment Upper body", 1002, "tshirt", "all", 99,
                ("tee", "T-shirt", "top"), _JERSEY, ("a round neckline", "short sleeves", "a chest pocket")),
    ProductType(254, "Top", "Garment Upper body", 1005, "tshirt", "all", 149,
                ("top", "body"), _JERSEY, ("a wide neckline", "a ribbed hem", "puff sleeves")),
    ProductType(252, "Sweater", "Garment Upper body", 1003, "sweater", "winter", 299,
                ("jumper", "sweater", "cardigan"), _KNIT, ("long sleeves", "dropped shoulders", "ribbing at the cuffs")),
    ProductType(259, "Blouse", "Garment Upper body", 1010, "sweater", "all", 249,
                ("blouse", "top"), _WOVEN, ("a V-neck", "buttons down the front", "long sleeves")),
    ProductType(258, "Shirt", "Garment Upper body", 1011, "sweater", "all", 299,
                ("shirt", "oxford"), ("cotton poplin", "oxford cotton", "linen blend", "flannel"),
                ("a button-down collar", "a yoke at the back", "a chest pocket")),
    ProductType(264, "Jacket", "Garment Upper body", 1007, "jacket", "winter", 499,
                ("jacket", "parka", "blazer"), ("water-repellent fabric", "padded fabric", "cotton twill"),
                ("a lined hood", "a zip down the front", "side pockets")),
    ProductType(272, "Trousers", "Garment Lower body", 1009, "trousers", "all", 299,
                ("trousers", "chinos", "joggers"), ("cotton twill", "stretch weave", "woven fabric"),
                ("a high waist", "side pockets", "tapered legs")),
    ProductType(273, "Leggings/Tights", "Garment Lower body", 1002, "trousers", "winter", 129,
                ("leggings", "tights"), ("stretch jersey", "fast-drying fabric"), ("an elasticated waist", "a wide waistband")),
    ProductType(274, "Shorts", "Garment Lower body", 1025, "shorts", "summer", 149,
                ("shorts", "bermuda"), ("cotton twill", "linen blend", "sweatshirt fabric"),
                ("an elasticated waist", "side pockets", "turn-ups at the hems")),
    ProductType(275, "Skirt", "Garment Lower body", 1012, "skirt", "summer", 249,
                ("skirt", "mini skirt", "midi skirt"), _WOVEN, ("a high waist", "a flared hem", "a concealed zip")),
    ProductType(276, "Jeans", "Garment Lower body", 1016, "trousers", "all", 399,
                ("jeans", "denim"), ("washed stretch denim", "rigid cotton denim"),
                ("a regular waist", "five pockets", "skinny legs")),
    ProductType(265, "Dress", "Garment Full body", 1013, "dress", "summer", 349,
                ("dress", "maxi dress", "shirt dress"), _WOVEN, ("a V-neck", "a tie belt", "short puff sleeves")),
    ProductType(306, "Bra", "Underwear", 1017, "bra", "all", 199,
                ("bra", "bralette"), ("microfibre", "lace"), ("underwired cups", "adjustable shoulder straps")),
    ProductType(286, "Underwear bottom", "Underwear", 1017, "shorts", "all", 59,
                ("briefs", "hipster", "boxer shorts"), ("cotton jersey", "microfibre", "lace"), ("a lined gusset", "a narrow waistband")),
    ProductType(59, "Swimwear bottom", "Swimwear", 1018, "shorts", "summer", 149,
                ("bikini bottoms", "swim shorts"), ("recycled polyamide", "quick-dry fabric"), ("ties at the sides", "a lined gusset")),
    ProductType(302, "Socks", "Socks & Tights", 1021, "socks", "winter", 49,
                ("socks", "ankle socks"), ("soft fine-knit cotton", "wool blend"), ("ribbed tops", "a patterned sole")),
    ProductType(87, "Sneakers", "Shoes", 1020, "shoe", "all", 399,
                ("trainers", "sneakers"), ("imitation leather", "canvas", "mesh"), ("lacing at the front", "a padded tongue", "rubber soles")),
    ProductType(88, "Boots", "Shoes", 1020, "shoe", "winter", 599,
                ("boots", "chelsea boots"), ("imitation suede", "leather"), ("a zip in one side", "block heels")),
    ProductType(66, "Bag", "Accessories", 1019, "bag", "all", 249,
                ("bag", "shopper", "shoulder bag"), ("imitation leather", "cotton canvas"), ("a detachable strap", "a zip at the top")),
    ProductType(67, "Hat/beanie", "Accessories", 1019, "hat", "winter", 99,
                ("beanie", "cap", "hat"), ("rib-knit fabric", "cotton twill"), ("a turned-up brim", "an adjustable strap")),
)

#: index groups: (index_group_no, name, share of customers whose main taste is this group)
INDEX_GROUPS: tuple[tuple[int, str, float], ...] = (
    (1, "Ladieswear", 0.38),
    (2, "Divided", 0.17),
    (3, "Menswear", 0.14),
    (4, "Baby/Children", 0.21),
    (26, "Sport", 0.10),
)


@dataclasses.dataclass(frozen=True)
class Section:
    index_group_no: int
    index_code: str
    index_name: str
    no: int
    name: str
    dept_prefix: str
    types: tuple[str, ...]  # product_type_name values sold in this section


SECTIONS: tuple[Section, ...] = (
    Section(1, "A", "Ladieswear", 16, "Womens Everyday Basics", "",
            ("Vest top", "T-shirt", "Top", "Leggings/Tights", "Trousers")),
    Section(1, "A", "Ladieswear", 15, "Womens Everyday Collection", "",
            ("Blouse", "Dress", "Skirt", "Sweater", "Trousers", "Top")),
    Section(1, "A", "Ladieswear", 18, "Womens Tailoring", "Tailoring ", ("Jacket", "Trousers", "Shirt", "Blouse")),
    Section(1, "A", "Ladieswear", 11, "Ladies Denim", "Ladies ", ("Jeans", "Shorts", "Skirt")),
    Section(1, "B", "Lingeries/Tights", 61, "Womens Lingerie", "", ("Bra", "Underwear bottom")),
    Section(1, "B", "Lingeries/Tights", 62, "Womens Nightwear, Socks & Tigh", "", ("Socks", "Leggings/Tights")),
    Section(1, "A", "Ladieswear", 60, "Womens Swimwear, beachwear", "", ("Swimwear bottom", "Vest top")),
    Section(1, "C", "Ladies Accessories", 64, "Womens Big accessories", "", ("Bag", "Hat/beanie")),
    Section(1, "C", "Ladies Accessories", 65, "Womens Shoes", "", ("Sneakers", "Boots")),
    Section(2, "D", "Divided", 53, "Divided Collection", "Divided ",
            ("Top", "Dress", "Skirt", "Sweater", "Jacket", "Shorts")),
    Section(2, "D", "Divided", 51, "Divided Basics", "Divided ", ("T-shirt", "Vest top", "Leggings/Tights", "Jeans")),
    Section(2, "D", "Divided", 52, "Divided Accessories", "Divided ", ("Bag", "Hat/beanie", "Socks", "Sneakers")),
    Section(3, "F", "Menswear", 21, "Contemporary Casual", "Men ", ("T-shirt", "Shirt", "Sweater", "Shorts")),
    Section(3, "F", "Menswear", 23, "Men Suits & Tailoring", "Men ", ("Jacket", "Trousers", "Shirt")),
    Section(3, "F", "Menswear", 26, "Men Underwear", "Men ", ("Underwear bottom", "Socks")),
    Section(3, "F", "Menswear", 25, "Men Shoes", "Men ", ("Sneakers", "Boots")),
    Section(3, "F", "Menswear", 20, "Contemporary Street", "Men ", ("Jeans", "Jacket", "Hat/beanie", "T-shirt")),
    Section(4, "G", "Baby Sizes 50-98", 44, "Baby Essentials & Complements", "Baby ",
            ("T-shirt", "Trousers", "Socks", "Hat/beanie")),
    Section(4, "H", "Children Sizes 92-140", 46, "Kids Girl", "Kids Girl ", ("Dress", "Leggings/Tights", "Top", "Skirt")),
    Section(4, "H", "Children Sizes 92-140", 47, "Kids Boy", "Kids Boy ", ("T-shirt", "Trousers", "Shorts", "Sweater")),
    Section(4, "I", "Children Sizes 134-170", 43, "Young Girl", "Young Girl ", ("Dress", "Top", "Jeans")),
    Section(4, "J", "Children Accessories, Swimwear", 41, "Kids Accessories, Swimwear & D", "Kids ",
            ("Swimwear bottom", "Hat/beanie", "Sneakers")),
    Section(26, "S", "Sport", 5, "Ladies H&M Sport", "Ladies Sport ", ("Vest top", "Leggings/Tights", "Bra", "Jacket")),
    Section(26, "S", "Sport", 6, "Men H&M Sport", "Men Sport ", ("T-shirt", "Shorts", "Sneakers")),
)


@dataclasses.dataclass(frozen=True)
class Colour:
    code: int
    name: str
    rgb: tuple[int, int, int]
    value_id: int
    value_name: str
    master_id: int
    master_name: str
    share: float  # share of articles in this colour


COLOURS: tuple[Colour, ...] = (
    Colour(9, "Black", (20, 20, 20), 4, "Dark", 5, "Black", 0.20),
    Colour(10, "White", (245, 245, 245), 3, "Light", 9, "White", 0.09),
    Colour(73, "Dark Blue", (25, 40, 90), 4, "Dark", 2, "Blue", 0.08),
    Colour(7, "Grey", (128, 128, 128), 2, "Medium Dusty", 12, "Grey", 0.04),
    Colour(6, "Light Grey", (195, 195, 195), 1, "Dusty Light", 12, "Grey", 0.03),
    Colour(8, "Dark Grey", (70, 70, 70), 4, "Dark", 12, "Grey", 0.03),
    Colour(13, "Beige", (215, 195, 160), 1, "Dusty Light", 11, "Beige", 0.05),
    Colour(11, "Off White", (240, 234, 218), 3, "Light", 9, "White", 0.03),
    Colour(72, "Blue", (40, 90, 190), 7, "Medium", 2, "Blue", 0.04),
    Colour(71, "Light Blue", (150, 190, 230), 3, "Light", 2, "Blue", 0.04),
    Colour(51, "Light Pink", (245, 195, 205), 3, "Light", 4, "Pink", 0.05),
    Colour(52, "Pink", (230, 110, 160), 5, "Bright", 4, "Pink", 0.02),
    Colour(42, "Red", (200, 30, 40), 5, "Bright", 18, "Red", 0.03),
    Colour(43, "Dark Red", (120, 20, 35), 4, "Dark", 18, "Red", 0.02),
    Colour(93, "Dark Green", (30, 80, 45), 4, "Dark", 19, "Green", 0.03),
    Colour(92, "Green", (60, 160, 80), 7, "Medium", 19, "Green", 0.02),
    Colour(19, "Greige", (180, 170, 150), 2, "Medium Dusty", 11, "Beige", 0.02),
    Colour(17, "Yellowish Brown", (170, 120, 50), 2, "Medium Dusty", 20, "Brown", 0.02),
    Colour(22, "Yellow", (240, 210, 40), 5, "Bright", 7, "Yellow", 0.02),
    Colour(33, "Dark Orange", (210, 100, 30), 5, "Bright", 8, "Orange", 0.01),
    Colour(61, "Light Purple", (200, 170, 220), 3, "Light", 3, "Lilac Purple", 0.02),
    Colour(83, "Dark Turquoise", (20, 110, 120), 4, "Dark", 13, "Turquoise", 0.01),
)


@dataclasses.dataclass(frozen=True)
class Appearance:
    no: int
    name: str
    pattern: str  # key of the image pattern drawer
    adjective: str  # word used in descriptions ("" for plain)
    share: float


APPEARANCES: tuple[Appearance, ...] = (
    Appearance(1010016, "Solid", "solid", "", 0.47),
    Appearance(1010017, "Stripe", "stripe", "striped", 0.08),
    Appearance(1010001, "All over pattern", "dots", "patterned", 0.11),
    Appearance(1010010, "Melange", "melange", "marled", 0.05),
    Appearance(1010004, "Check", "check", "checked", 0.04),
    Appearance(1010008, "Front print", "print", "printed", 0.06),
    Appearance(1010005, "Colour blocking", "blocks", "colour-block", 0.03),
    Appearance(1010023, "Denim", "denim", "denim", 0.06),
    Appearance(1010021, "Lace", "lace", "lace", 0.02),
)

#: appearances that make sense only for some product types.
DENIM_TYPES = frozenset({"Jeans", "Shorts", "Skirt", "Jacket", "Dress", "Shirt"})
DENIM_COLOURS = ("Dark Blue", "Blue", "Light Blue", "Black")

NAME_WORDS: tuple[str, ...] = (
    "Luna", "Tilda", "Mariette", "Idro", "Tilly", "Simba", "Burt", "Vega", "Nora", "Alva", "Otto", "Leo",
    "Ebba", "Sigge", "Malin", "Juno", "Freja", "Ivar", "Stella", "Moa", "Hugo", "Nils", "Saga", "Elsa",
    "Bonnie", "Cleo", "Dolly", "Astrid", "Rut", "Edvin", "Kim", "Selma",
)
FITS: tuple[str, ...] = ("Fitted", "Relaxed-fit", "Oversized", "Regular-fit", "Slim-fit", "Loose-fit", "Short", "Long")

# ---------------------------------------------------------------------------------------------
# Styles ("Fashion Product Images") vocabularies

#: (masterCategory, subCategory, articleType, shape, genders, usages, seasons-weighted)
STYLES_TYPES: tuple[tuple[str, str, str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("Apparel", "Topwear", "Tshirts", "tshirt", ("Men", "Women", "Boys", "Girls", "Unisex"), ("Casual", "Sports")),
    ("Apparel", "Topwear", "Shirts", "sweater", ("Men", "Women", "Boys"), ("Casual", "Formal", "Smart Casual")),
    ("Apparel", "Topwear", "Tops", "tshirt", ("Women", "Girls"), ("Casual", "Party")),
    ("Apparel", "Topwear", "Kurtas", "dress", ("Men", "Women"), ("Ethnic",)),
    ("Apparel", "Topwear", "Sweatshirts", "sweater", ("Men", "Women", "Unisex"), ("Casual", "Sports")),
    ("Apparel", "Topwear", "Jackets", "jacket", ("Men", "Women"), ("Casual", "Sports")),
    ("Apparel", "Bottomwear", "Jeans", "trousers", ("Men", "Women"), ("Casual",)),
    ("Apparel", "Bottomwear", "Trousers", "trousers", ("Men", "Women"), ("Formal", "Casual")),
    ("Apparel", "Bottomwear", "Shorts", "shorts", ("Men", "Women", "Boys"), ("Casual", "Sports")),
    ("Apparel", "Bottomwear", "Skirts", "skirt", ("Women", "Girls"), ("Casual",)),
    ("Apparel", "Dress", "Dresses", "dress", ("Women", "Girls"), ("Casual", "Party")),
    ("Apparel", "Innerwear", "Briefs", "shorts", ("Men", "Women"), ("Casual",)),
    ("Apparel", "Innerwear", "Bra", "bra", ("Women",), ("Casual",)),
    ("Accessories", "Watches", "Watches", "watch", ("Men", "Women", "Unisex"), ("Casual", "Formal")),
    ("Accessories", "Bags", "Handbags", "bag", ("Women",), ("Casual", "Formal")),
    ("Accessories", "Bags", "Backpacks", "bag", ("Men", "Unisex"), ("Casual",)),
    ("Accessories", "Headwear", "Caps", "hat", ("Men", "Unisex"), ("Casual", "Sports")),
    ("Accessories", "Socks", "Socks", "socks", ("Men", "Women", "Unisex"), ("Casual", "Sports")),
    ("Footwear", "Shoes", "Casual Shoes", "shoe", ("Men", "Women", "Boys"), ("Casual",)),
    ("Footwear", "Shoes", "Sports Shoes", "shoe", ("Men", "Women", "Unisex"), ("Sports",)),
    ("Footwear", "Shoes", "Formal Shoes", "shoe", ("Men",), ("Formal",)),
    ("Footwear", "Shoes", "Heels", "shoe", ("Women",), ("Casual", "Party")),
    ("Footwear", "Flip Flops", "Flip Flops", "shoe", ("Men", "Women", "Unisex"), ("Casual",)),
    ("Personal Care", "Fragrance", "Perfume and Body Mist", "bottle", ("Men", "Women", "Unisex"), ("Casual",)),
    ("Personal Care", "Lips", "Lipstick", "bottle", ("Women",), ("Casual",)),
)

#: display noun per articleType in productDisplayName
STYLES_NOUN: dict[str, str] = {
    "Tshirts": "T-shirt", "Shirts": "Shirt", "Tops": "Top", "Kurtas": "Kurta", "Sweatshirts": "Sweatshirt",
    "Jackets": "Jacket", "Jeans": "Jeans", "Trousers": "Trousers", "Shorts": "Shorts", "Skirts": "Skirt",
    "Dresses": "Dress", "Briefs": "Briefs", "Bra": "Bra", "Watches": "Watch", "Handbags": "Handbag",
    "Backpacks": "Backpack", "Caps": "Cap", "Socks": "Socks", "Casual Shoes": "Casual Shoes",
    "Sports Shoes": "Sports Shoes", "Formal Shoes": "Formal Shoes", "Heels": "Heels", "Flip Flops": "Flip Flops",
    "Perfume and Body Mist": "Perfume", "Lipstick": "Lipstick",
}

STYLES_BRANDS: dict[str, tuple[str, ...]] = {
    "Apparel": ("Turtle", "Peter England", "Wrangler", "Lee", "Jealous 21", "Roadster", "Fabindia", "Nike", "Puma",
                "Adidas", "Flying Machine", "United Colors of Benetton"),
    "Accessories": ("Titan", "Fastrack", "Baggit", "Puma", "Nike", "Skagen", "Lino Perros"),
    "Footwear": ("Nike", "Puma", "Adidas", "Reebok", "Catwalk", "Red Tape", "Woodland", "Converse"),
    "Personal Care": ("Lakme", "Davidoff", "Elle 18", "Revlon", "Playboy"),
}

#: baseColour: (name, rgb, share)
STYLES_COLOURS: tuple[tuple[str, tuple[int, int, int], float], ...] = (
    ("Black", (20, 20, 20), 0.22), ("White", (245, 245, 245), 0.12), ("Blue", (40, 90, 190), 0.11),
    ("Brown", (110, 70, 40), 0.08), ("Grey", (128, 128, 128), 0.06), ("Red", (200, 30, 40), 0.06),
    ("Green", (60, 160, 80), 0.05), ("Pink", (230, 110, 160), 0.04), ("Navy Blue", (20, 30, 80), 0.05),
    ("Purple", (120, 60, 160), 0.04), ("Silver", (190, 190, 200), 0.03), ("Yellow", (240, 210, 40), 0.02),
    ("Beige", (215, 195, 160), 0.02), ("Gold", (200, 160, 50), 0.02), ("Maroon", (110, 20, 40), 0.02),
    ("Orange", (240, 130, 30), 0.02), ("Olive", (110, 110, 40), 0.02), ("Charcoal", (55, 55, 60), 0.01),
    ("Off White", (240, 234, 218), 0.01),
)
#: name style word -> image pattern
STYLES_STYLE_WORDS: tuple[tuple[str, str], ...] = (
    ("Solid", "solid"), ("Check", "check"), ("Striped", "stripe"), ("Printed", "print"), ("Polka Dot", "dots"),
    ("Slim Fit", "solid"), ("Washed", "melange"), ("Colourblocked", "blocks"),
)
STYLES_SEASONS: tuple[str, ...] = ("Summer", "Fall", "Winter", "Spring")


def hex_ids(rng: np.random.Generator, n: int, n_hex: int = 64) -> np.ndarray:
    """``n`` random lowercase hex strings of ``n_hex`` characters as a NumPy bytes array (``S<n_hex>``).

    Bytes, not unicode: a quarter of the memory (1.4M customer ids: 88 MB instead of 351 MB);
    ``polars.Series(ids).cast(polars.Utf8)`` turns them into strings.
    """
    raw = rng.integers(0, 256, size=(n, n_hex // 2), dtype=np.uint8)
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    out = np.empty((n, n_hex), dtype=np.uint8)
    out[:, 0::2] = digits[raw >> 4]
    out[:, 1::2] = digits[raw & 15]
    return out.view(f"S{n_hex}").ravel()


def shares(values: np.ndarray | list[float]) -> np.ndarray:
    """Normalise non-negative weights to probabilities (float64)."""
    arr = np.asarray(values, dtype=np.float64)
    return arr / arr.sum()


def choice_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One column index per row of ``probs`` (non-negative weights), vectorised inverse-CDF sampling.

    NumPy's ``Generator.choice`` takes one probability vector; here every row has its own.
    """
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cum[:, -1]
    return np.minimum((u[:, None] >= cum).sum(axis=1), probs.shape[1] - 1)


def output_dir(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a directory to write into (created); an existing non-directory is an InputError."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: output for {what} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    return out
