//! What a page says, in Vietnamese and in English: labels, the words for
//! supply-chain steps, and each warning as a consumer should read it. The
//! one place a page's language lives; the template only places it.

use crate::date::{dmy, dmy_hm};
use crate::lookup::Warning;

/// A page's language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lang {
    Vi,
    En,
}

impl Lang {
    /// The language tag of the page's `lang` attribute.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    /// The labels of a page in this language.
    pub fn words(self) -> &'static Words {
        match self {
            Lang::Vi => &VI,
            Lang::En => &EN,
        }
    }
}

/// The fixed texts of a page.
pub struct Words {
    pub site: &'static str,
    pub registered: &'static str,
    pub grave_advice: &'static str,
    pub notice: &'static str,
    pub product: &'static str,
    pub brand: &'static str,
    pub category: &'static str,
    pub net_content: &'static str,
    pub gtin: &'static str,
    pub producer: &'static str,
    pub name: &'static str,
    pub address: &'static str,
    pub gln: &'static str,
    pub origin: &'static str,
    pub ocop: &'static str,
    pub certifications: &'static str,
    pub batch: &'static str,
    pub lot: &'static str,
    pub production_date: &'static str,
    pub expiry_date: &'static str,
    pub quantity: &'static str,
    pub stages: &'static str,
    pub item: &'static str,
    pub serial: &'static str,
    pub stamp: &'static str,
    pub status: &'static str,
    pub status_active: &'static str,
    pub status_void: &'static str,
    pub scans: &'static str,
    pub scanned_code: &'static str,
    pub data_from: &'static str,
    pub other_lang: &'static str,
    pub image_of: &'static str,
    pub not_found_title: &'static str,
    pub not_found_advice: &'static str,
    pub invalid_title: &'static str,
    pub invalid_text: &'static str,
    pub invalid_advice: &'static str,
    pub detail: &'static str,
    pub not_ready_title: &'static str,
    pub not_ready_text: &'static str,
}

const VI: Words = Words {
    site: "Truy xuất nguồn gốc",
    registered: "Mã này đã được đăng ký trong hệ thống truy xuất nguồn gốc.",
    grave_advice: "Đừng mua hoặc sử dụng sản phẩm này. Hãy báo cho cửa hàng hoặc cơ quan quản lý thị trường.",
    notice: "Thông báo",
    product: "Sản phẩm",
    brand: "Thương hiệu",
    category: "Loại sản phẩm",
    net_content: "Định lượng",
    gtin: "Mã sản phẩm (GTIN)",
    producer: "Nhà sản xuất",
    name: "Tên",
    address: "Địa chỉ",
    gln: "Mã địa điểm (GLN)",
    origin: "Xuất xứ",
    ocop: "Sản phẩm OCOP",
    certifications: "Chứng nhận",
    batch: "Lô hàng",
    lot: "Số lô",
    production_date: "Ngày sản xuất",
    expiry_date: "Hạn sử dụng",
    quantity: "Số lượng trong lô",
    stages: "Hành trình sản phẩm",
    item: "Sản phẩm bạn đang cầm",
    serial: "Số sê-ri",
    stamp: "Mã tem",
    status: "Trạng thái",
    status_active: "Đang lưu hành",
    status_void: "Tem đã bị hủy",
    scans: "Số lần quét",
    scanned_code: "Mã đã quét",
    data_from: "Dữ liệu",
    other_lang: "English",
    image_of: "Ảnh sản phẩm",
    not_found_title: "Không tìm thấy sản phẩm",
    not_found_advice: "Hãy kiểm tra lại mã. Nếu mã in trên sản phẩm mà không tìm thấy, sản phẩm có thể là hàng giả: hãy báo cho cửa hàng hoặc cơ quan quản lý thị trường.",
    invalid_title: "Mã không hợp lệ",
    invalid_text: "Mã vừa quét không phải là một mã hợp lệ.",
    invalid_advice: "Hãy quét lại, hoặc kiểm tra mã in trên sản phẩm. Nếu mã in sai, sản phẩm có thể là hàng giả: hãy báo cho cửa hàng hoặc cơ quan quản lý thị trường.",
    detail: "Chi tiết",
    not_ready_title: "Dịch vụ đang khởi động",
    not_ready_text: "Hệ thống chưa sẵn sàng. Hãy thử lại sau ít giây.",
};

const EN: Words = Words {
    site: "Product traceability",
    registered: "This code is registered in the traceability system.",
    grave_advice: "Do not buy or use this product. Tell the shop or the market surveillance authority.",
    notice: "Notice",
    product: "Product",
    brand: "Brand",
    category: "Category",
    net_content: "Net content",
    gtin: "Product code (GTIN)",
    producer: "Producer",
    name: "Name",
    address: "Address",
    gln: "Location code (GLN)",
    origin: "Origin",
    ocop: "OCOP product",
    certifications: "Certifications",
    batch: "Batch",
    lot: "Lot",
    production_date: "Production date",
    expiry_date: "Expiry date",
    quantity: "Units in the batch",
    stages: "Supply chain",
    item: "The item in your hand",
    serial: "Serial number",
    stamp: "Stamp code",
    status: "Status",
    status_active: "In circulation",
    status_void: "Stamp voided",
    scans: "Scans",
    scanned_code: "Scanned code",
    data_from: "Data",
    other_lang: "Tiếng Việt",
    image_of: "Picture of the product",
    not_found_title: "Product not found",
    not_found_advice: "Check the code. If a code printed on a product is not found, the product may be counterfeit: tell the shop or the market surveillance authority.",
    invalid_title: "Invalid code",
    invalid_text: "The code just scanned is not a valid code.",
    invalid_advice: "Scan it again, or check the code printed on the product. A misprinted code can be a sign of a counterfeit: tell the shop or the market surveillance authority.",
    detail: "Details",
    not_ready_title: "The service is starting",
    not_ready_text: "The service is not ready yet. Try again in a few seconds.",
};

impl Lang {
    /// The word for a supply-chain step; a step we have no word for is
    /// shown as exported.
    pub fn step(self, step: &str) -> &str {
        let (vi, en) = match step {
            "planting" => ("Gieo trồng", "Planting"),
            "farming" => ("Nuôi trồng", "Farming"),
            "fishing" => ("Đánh bắt", "Fishing"),
            "harvesting" => ("Thu hoạch", "Harvesting"),
            "slaughtering" => ("Giết mổ", "Slaughtering"),
            "processing" => ("Chế biến", "Processing"),
            "inspection" => ("Kiểm định", "Inspection"),
            "packing" => ("Đóng gói", "Packing"),
            "storage" => ("Lưu kho", "Storage"),
            "shipping" => ("Vận chuyển", "Shipping"),
            "distribution" => ("Phân phối", "Distribution"),
            "receiving" => ("Nhận hàng", "Receiving"),
            "retail" => ("Bán lẻ", "Retail"),
            "import" => ("Nhập khẩu", "Import"),
            "export" => ("Xuất khẩu", "Export"),
            _ => return step,
        };
        match self {
            Lang::Vi => vi,
            Lang::En => en,
        }
    }

    /// A country as a reader names it: the ISO code of Vietnam in words,
    /// any other as exported.
    pub fn country(self, country: &str) -> &str {
        match (country, self) {
            ("VN" | "VNM", Lang::Vi) => "Việt Nam",
            ("VN" | "VNM", Lang::En) => "Vietnam",
            _ => country,
        }
    }

    /// "OCOP 4 sao", "4-star OCOP".
    pub fn stars(self, n: u64) -> String {
        match self {
            Lang::Vi => format!("OCOP {n} sao"),
            Lang::En => format!("{n}-star OCOP"),
        }
    }

    /// How often an item has been scanned, and since when.
    pub fn scanned(self, count: u64, first_at: i64, utc_offset: i64) -> String {
        let since = dmy_hm(first_at, utc_offset);
        match (self, count) {
            (Lang::Vi, _) => format!("{count} lần, lần đầu lúc {since}"),
            (Lang::En, 1) => format!("Once, on {since}"),
            (Lang::En, _) => format!("{count} times, first on {since}"),
        }
    }

    /// What a not-found page says happened.
    pub fn not_found(self, gtin: Option<&str>, stamp: Option<&str>) -> String {
        match (self, gtin, stamp) {
            (Lang::Vi, Some(g), _) => {
                format!("Mã sản phẩm {g} chưa được đăng ký trong hệ thống truy xuất nguồn gốc.")
            }
            (Lang::Vi, None, Some(s)) => format!("Không có sản phẩm nào mang mã tem {s}."),
            (Lang::Vi, None, None) => "Mã này không chứa mã sản phẩm (GTIN) để tra cứu.".into(),
            (Lang::En, Some(g), _) => {
                format!("No product is registered under the product code {g}.")
            }
            (Lang::En, None, Some(s)) => format!("No item carries the stamp code {s}."),
            (Lang::En, None, None) => "The code carries no product code (GTIN) to look up.".into(),
        }
    }

    /// A warning's headline.
    pub fn warning_title(self, w: &Warning) -> &'static str {
        let (vi, en) = match w {
            Warning::Recalled { lot: None, .. } => ("Sản phẩm bị thu hồi", "Product recalled"),
            Warning::Recalled { .. } => ("Lô hàng bị thu hồi", "Batch recalled"),
            Warning::Withdrawn { lot: None, .. } => {
                ("Sản phẩm đã ngừng lưu hành", "Product withdrawn from sale")
            }
            Warning::Withdrawn { .. } => ("Lô hàng đã ngừng lưu hành", "Batch withdrawn from sale"),
            Warning::VoidItem => ("Tem đã bị hủy", "Stamp voided"),
            Warning::Expired { .. } => ("Đã hết hạn sử dụng", "Past its expiry date"),
            Warning::SerialNotRegistered { .. } => {
                ("Số sê-ri chưa được đăng ký", "Serial number not registered")
            }
            Warning::LotNotRegistered { .. } => ("Số lô chưa được đăng ký", "Lot not registered"),
            Warning::LotMismatch { .. } => ("Số lô không khớp", "Lot does not match"),
            Warning::ScannedManyTimes { .. } => {
                ("Tem bị quét quá nhiều lần", "Stamp scanned very often")
            }
        };
        match self {
            Lang::Vi => vi,
            Lang::En => en,
        }
    }

    /// What a warning means for the person holding the product.
    pub fn warning_text(self, w: &Warning, utc_offset: i64) -> String {
        let vi = self == Lang::Vi;
        match w {
            Warning::Recalled { lot, .. } => match (vi, lot) {
                (true, None) => "Sản phẩm này đã bị thu hồi.".into(),
                (true, Some(l)) => format!("Lô {l} của sản phẩm này đã bị thu hồi."),
                (false, None) => "This product has been recalled.".into(),
                (false, Some(l)) => format!("Lot {l} of this product has been recalled."),
            },
            Warning::Withdrawn { lot, .. } => match (vi, lot) {
                (true, None) => "Sản phẩm này đã được rút khỏi thị trường.".into(),
                (true, Some(l)) => format!("Lô {l} của sản phẩm này đã được rút khỏi thị trường."),
                (false, None) => "This product has been withdrawn from sale.".into(),
                (false, Some(l)) => {
                    format!("Lot {l} of this product has been withdrawn from sale.")
                }
            },
            Warning::VoidItem => if vi {
                "Tem truy xuất của sản phẩm này đã bị hủy: đừng coi đây là hàng chính hãng."
            } else {
                "This item's traceability stamp has been voided: do not accept it as genuine."
            }
            .into(),
            Warning::Expired { date, lot } => match (vi, lot) {
                (true, Some(l)) => format!("Hạn sử dụng của lô {l} là {}.", dmy(*date)),
                (true, None) => format!("Hạn sử dụng in trên mã là {}.", dmy(*date)),
                (false, Some(l)) => format!("Lot {l} expired on {}.", dmy(*date)),
                (false, None) => format!("The expiry date printed on the code is {}.", dmy(*date)),
            },
            Warning::SerialNotRegistered { serial } => {
                if vi {
                    format!(
                        "Số sê-ri {serial} không có trong hệ thống của nhà sản xuất: sản phẩm có thể là hàng giả."
                    )
                } else {
                    format!(
                        "Serial number {serial} is not registered by the producer: the product may be counterfeit."
                    )
                }
            }
            Warning::LotNotRegistered { lot } => {
                if vi {
                    format!(
                        "Lô {lot} không có trong hệ thống của nhà sản xuất: sản phẩm có thể là hàng giả."
                    )
                } else {
                    format!(
                        "Lot {lot} is not registered by the producer: the product may be counterfeit."
                    )
                }
            }
            Warning::LotMismatch {
                scanned,
                registered,
            } => {
                if vi {
                    format!(
                        "Số lô trên mã ({scanned}) khác với lô đã đăng ký cho sản phẩm này ({registered}): nhãn có thể đã bị sửa."
                    )
                } else {
                    format!(
                        "The lot on the code ({scanned}) differs from the lot registered for this item ({registered}): the label may have been altered."
                    )
                }
            }
            Warning::ScannedManyTimes { count, since } => {
                let since = dmy_hm(*since, utc_offset);
                if vi {
                    format!(
                        "Tem này đã được quét {count} lần kể từ {since}. Hàng thật hiếm khi bị quét nhiều như vậy: mã có thể đã bị sao chép."
                    )
                } else {
                    format!(
                        "This stamp has been scanned {count} times since {since}. A genuine item is rarely scanned this often: the code may have been copied."
                    )
                }
            }
        }
    }
}
