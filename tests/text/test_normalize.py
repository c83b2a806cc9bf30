"""The Turkish normaliser: one parametrised table per category of the spec."""

from __future__ import annotations

import pytest

from sesli.text.normalize import NormalizeError, normalize, pronounceable, turkish_lower, turkish_upper


def _cases(table: str) -> list[tuple[str, str]]:
    return [tuple(part.strip() for part in line.split("=>")) for line in table.strip().splitlines()]


def test_turkish_casing() -> None:
    assert turkish_lower("IĞDIR İli ISPARTA") == "ığdır ili ısparta"
    assert turkish_upper("ığdır ili istanbul") == "IĞDIR İLİ İSTANBUL"
    assert turkish_lower("I\u0307stanbul") == "istanbul"  # decomposed İ
    assert turkish_lower("i\u0307") == "i"


CASING_AND_CLEANUP = _cases(
    """
İSTANBUL'da IĞDIR ilinde => istanbulda ığdır ilinde
Ankara'nın   \t sokakları güzel => ankaranın sokakları güzel
"Merhaba" (dedi) 😀 ve Привет! => merhaba dedi ve привет!
a\x00b\x07c => a b c
Merhaba... nasılsın?! — iyiyim => merhaba… nasılsın?! — iyiyim
geldi.Sonra gitti. => geldi. sonra gitti.
X,Y ve Z => iks, ye ve ze
ali@example.com => ali et example nokta com
c++ ve C# => c artı artı ve ce diyez
"""
)

CARDINALS = _cases(
    """
121100 => yüz yirmi bir bin yüz
1.250.000 => bir milyon iki yüz elli bin
100.000 kişi => yüz bin kişi
1000 => bin
1001 gece => bin bir gece
3,5 => üç virgül beş
0,05 => sıfır virgül sıfır beş
-12,5 derece => eksi on iki virgül beş derece
sıcaklık −3 => sıcaklık eksi üç
2-3 gün => iki üç gün
007 => sıfır sıfır yedi
0532 123 45 67 => sıfır beş üç iki yüz yirmi üç kırk beş altmış yedi
+90 212 => artı doksan iki yüz on iki
2.0.1 sürümü => iki nokta sıfır nokta bir sürümü
1/2 ve 3/4 => ikide bir ve dörtte üç
24/7 => yirmi dört bölü yedi
3x4 = 12 => üç çarpı dört eşittir on iki
F16 uçağı 4G => fe on altı uçağı dört ge
12345678901234567 => bir iki üç dört beş altı yedi sekiz dokuz sıfır bir iki üç dört beş altı yedi
"""
)

ORDINALS = _cases(
    """
3. sınıf => üçüncü sınıf
5. kat => beşinci kat
1990. yılda => bin dokuz yüz doksanıncı yılda
2. Dünya Savaşı => ikinci dünya savaşı
1. Lig'de 20 takım => birinci ligde yirmi takım
15 Temmuz 2016'da 8. yıl dönümü => on beş temmuz iki bin on altıda sekizinci yıl dönümü
Sonuç 5. Sonra geldi. => sonuç beş. sonra geldi.
Yıl 2024. => yıl iki bin yirmi dört.
5'inci 3'üncü 2'nci 1'inci 6'ncı 9'uncu => beşinci üçüncü ikinci birinci altıncı dokuzuncu
3'üncüsü => üçüncüsü
XIX. yüzyıl => on dokuzuncu yüzyıl
III. Selim => üçüncü selim
IV. Murat ve I. Dünya Savaşı => dördüncü murat ve birinci dünya savaşı
Mehmet II. => mehmet ikinci.
M. Kemal => me kemal
"""
)

SUFFIXES = _cases(
    """
3'te 5'te 4'te 2'de => üçte beşte dörtte ikide
1990'lı 10'da 40'ta 6'sı => bin dokuz yüz doksanlı onda kırkta altısı
3'de 5'da 2'te 10'de => üçte beşte ikide onda
1990'larda 2000'li yıllarda 1980'lerin => bin dokuz yüz doksanlarda iki binli yıllarda bin dokuz yüz seksenlerin
3'ü 4'ü 6'yı 9'u 40'ı 100'ü => üçü dördü altıyı dokuzu kırkı yüzü
1'in 2'nin 3'ün 4'ün 6'nın => birin ikinin üçün dördün altının
2'ye 3'e 6'ya 10'a 2'e 3'ye => ikiye üçe altıya ona ikiye üçe
1000000'dan 1.250.000'den => bir milyondan bir milyon iki yüz elli binden
3'lü 6'lı 9'lu 10'lu => üçlü altılı dokuzlu onlu
5'er 10'ar 2'şer => beşer onar ikişer
Ali 3'ünde, Ayşe 5'inde. => ali üçünde, ayşe beşinde.
Sayfa 12'deki tablo => sayfa on ikideki tablo
3te 10da => üçte onda
TBMM'de ABD'li AB'ye THY'nin => te be me mede a be deli a beye te he yenin
NATO'ya ASELSAN'ın => natoya aselsanın
"""
)

DATES_AND_TIMES = _cases(
    """
29.10.1923 => yirmi dokuz ekim bin dokuz yüz yirmi üç
29/10/1923 => yirmi dokuz ekim bin dokuz yüz yirmi üç
29-10-1923 => yirmi dokuz ekim bin dokuz yüz yirmi üç
2024-01-15 => on beş ocak iki bin yirmi dört
29.10.1923'te => yirmi dokuz ekim bin dokuz yüz yirmi üçte
1 Ocak 2024 => bir ocak iki bin yirmi dört
14:30 => on dört otuz
09.15 => dokuz on beş
09:05 => dokuz sıfır beş
14:00'te => on dörtte
14:30'da buluşalım. => on dört otuzda buluşalım.
12:30:15 => on iki otuz on beş
09:00-12:00 arası => dokuz on iki arası
"""
)

PERCENT_CURRENCY_UNITS = _cases(
    """
%50 => yüzde elli
%3,5 faiz => yüzde üç virgül beş faiz
%50'si => yüzde ellisi
50% => yüzde elli
‰5 => binde beş
100 TL => yüz lira
100₺ => yüz lira
₺100 => yüz lira
$50 => elli dolar
10 € => on avro
€10 => on avro
12,50 TL => on iki lira elli kuruş
12,5 TL => on iki lira elli kuruş
0,50 TL => elli kuruş
-5 TL bakiye => eksi beş lira bakiye
-12,50 TL => eksi on iki lira elli kuruş
%-5 => yüzde eksi beş
%5-%10 => yüzde beş yüzde on
5%-10% => yüzde beş yüzde on
Değişim: -%2,5 => değişim: eksi yüzde iki virgül beş
$4.99 => dört dolar doksan dokuz sent
5px ve 2x => beş px ve iki x
1.250.000 TL => bir milyon iki yüz elli bin lira
5 milyon TL => beş milyon lira
2,5 milyar TL'ye ulaştı => iki virgül beş milyar liraya ulaştı
Euro ise 35,10 TL'den => euro ise otuz beş lira on kuruştan
fiyatı: ₺1.299,90 => fiyatı: bin iki yüz doksan dokuz lira doksan kuruş
100 TL'ye => yüz liraya
5 km => beş kilometre
5km'den => beş kilometreden
3 kg => üç kilogram
2 m => iki metre
15 cm => on beş santimetre
100 m² => yüz metrekare
100 m2 => yüz metrekare
25°C => yirmi beş derece
-5 °C => eksi beş derece
200 ml => iki yüz mililitre
2 lt => iki litre
10 sn 3 dk 2 sa => on saniye üç dakika iki saat
10 GB 5 MB => on gigabayt beş megabayt
100 kWh => yüz kilovatsaat
120 km/sa => saatte yüz yirmi kilometre
5 mart => beş mart
"""
)

ABBREVIATIONS = _cases(
    """
Dr. Ahmet => doktor ahmet
Prof. Dr. Ayşe => profesör doktor ayşe
Prof.Dr. Mehmet => profesör doktor mehmet
Doç. Dr. Can => doçent doktor can
Yrd. Doç. Dr. Can => yardımcı doçent doktor can
Öğr. Gör. Ece => öğretim görevlisi ece
Av. Deniz => avukat deniz
Sn. Başkan => sayın başkan
elma, armut vb. meyveler => elma, armut ve benzeri meyveler
elma, armut vs. => elma, armut vesaire.
elma vb. Sonra => elma ve benzeri. sonra
bkz. Şekil 3 => bakınız şekil üç
No. 5 => numara beş
Atatürk Cad. No. 12 => atatürk caddesi numara on iki
Gül Sok. Mah. Apt. => gül sokağı mahallesi apartmanı.
ABC Ltd. Şti. => a be ce limitet şirketi.
ABC Ltd. Şti. bugün => a be ce limitet şirketi bugün
XYZ A.Ş. => iks ye ze anonim şirketi.
M.Ö. 500 => milattan önce beş yüz
T.C. vatandaşı => te ce vatandaşı
T.C. Kimlik No: 305 => te ce kimlik numara üç yüz beş
Oda no: 305 => oda numara üç yüz beş
"""
)

INITIALISMS = _cases(
    """
TBMM => te be me me
ABD => a be de
THY => te he ye
CHP'li => ce he peli
İTÜ => i te ü
NATO ODTÜ TÜBİTAK UNESCO COVID => nato odtü tübitak unesko kovid
UNESCO'ya => uneskoya
YHT seferleri => ye he te seferleri
YÖK => yök
KPSS İETT => ke pe se se i e te te
A.B.D. => a be de.
B planı => be planı
BU ÇOK GÜZEL BİR GÜN => bu çok güzel bir gün
DİKKAT => dikkat
"""
)


@pytest.mark.parametrize(
    ("text", "spoken"),
    CASING_AND_CLEANUP
    + CARDINALS
    + ORDINALS
    + SUFFIXES
    + DATES_AND_TIMES
    + PERCENT_CURRENCY_UNITS
    + ABBREVIATIONS
    + INITIALISMS,
)
def test_normalize(text: str, spoken: str) -> None:
    assert normalize(text) == spoken


def test_spec_sentence() -> None:
    text = "TBMM'de 29.10.1923'te %50 oyla, 3. madde kabul edildi."
    assert normalize(text) == (
        "te be me mede yirmi dokuz ekim bin dokuz yüz yirmi üçte yüzde elli oyla, üçüncü madde kabul edildi."
    )


def test_multiline_input_becomes_one_line() -> None:
    assert normalize("bir\niki\r\n\n3") == "bir iki üç"
    assert normalize("") == ""
    assert normalize("  \n\t ") == ""


def test_non_text_input_is_a_clear_error() -> None:
    with pytest.raises(NormalizeError, match="needs a str"):
        normalize(b"123")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("word", "expected"),
    [("NATO", True), ("ODTÜ", True), ("ABD", False), ("KPSS", False), ("İETT", False), ("TOKİ", True)],
)
def test_pronounceable(word: str, expected: bool) -> None:
    assert pronounceable(word) is expected


def test_other_digit_scripts_are_read() -> None:
    assert normalize("٣ ve ①") == "üç ve bir"
