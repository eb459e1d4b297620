//! Words the generator builds realistic records from: the specialities of
//! Vietnam's 63 provinces, producer kinds, certifications, place names. All
//! fictional combinations; no record names a real business.

/// A speciality: (product, category, package).
pub type Speciality = (&'static str, &'static str, &'static str);

/// Each province with its specialities.
pub const PROVINCES: &[(&str, &[Speciality])] = &[
    (
        "Hà Nội",
        &[
            ("Cốm làng Vòng", "Bánh kẹo", "200 g"),
            ("Chè búp Ba Vì", "Chè", "100 g"),
            ("Giò lụa Ước Lễ", "Thực phẩm chế biến", "500 g"),
        ],
    ),
    (
        "Hải Phòng",
        &[
            ("Nước mắm Cát Hải", "Nước mắm", "500 ml"),
            ("Bánh đa cua", "Bánh tráng", "300 g"),
        ],
    ),
    (
        "Hà Giang",
        &[
            ("Mật ong bạc hà Mèo Vạc", "Mật ong", "500 ml"),
            ("Chè Shan tuyết", "Chè", "200 g"),
        ],
    ),
    (
        "Cao Bằng",
        &[
            ("Hạt dẻ Trùng Khánh", "Hạt", "500 g"),
            ("Miến dong Nguyên Bình", "Miến", "500 g"),
        ],
    ),
    (
        "Bắc Kạn",
        &[
            ("Miến dong Na Rì", "Miến", "500 g"),
            ("Quýt Quang Thuận", "Trái cây", "1 kg"),
        ],
    ),
    (
        "Tuyên Quang",
        &[
            ("Cam sành Hàm Yên", "Trái cây", "1 kg"),
            ("Chè Mỹ Bằng", "Chè", "200 g"),
        ],
    ),
    (
        "Lào Cai",
        &[
            ("Rượu ngô Bắc Hà", "Đồ uống", "500 ml"),
            ("Táo mèo Sa Pa", "Trái cây", "500 g"),
        ],
    ),
    (
        "Điện Biên",
        &[
            ("Gạo Điện Biên", "Gạo", "5 kg"),
            ("Cà phê Mường Ảng", "Cà phê", "500 g"),
        ],
    ),
    (
        "Lai Châu",
        &[
            ("Chè Tân Uyên", "Chè", "200 g"),
            ("Sâm Lai Châu", "Dược liệu", "100 g"),
        ],
    ),
    (
        "Sơn La",
        &[
            ("Mận hậu Mộc Châu", "Trái cây", "1 kg"),
            ("Chè Mộc Châu", "Chè", "200 g"),
        ],
    ),
    (
        "Yên Bái",
        &[
            ("Quế Văn Yên", "Gia vị", "200 g"),
            ("Gạo nếp Tú Lệ", "Gạo", "2 kg"),
        ],
    ),
    (
        "Hòa Bình",
        &[
            ("Cam Cao Phong", "Trái cây", "1 kg"),
            ("Rượu cần Mường", "Đồ uống", "1 l"),
        ],
    ),
    ("Thái Nguyên", &[("Chè Tân Cương", "Chè", "100 g")]),
    (
        "Lạng Sơn",
        &[
            ("Hồi Văn Quan", "Gia vị", "200 g"),
            ("Na Chi Lăng", "Trái cây", "1 kg"),
        ],
    ),
    (
        "Quảng Ninh",
        &[
            ("Chả mực Hạ Long", "Thủy sản chế biến", "500 g"),
            ("Sá sùng Vân Đồn", "Thủy sản khô", "100 g"),
        ],
    ),
    (
        "Bắc Giang",
        &[
            ("Vải thiều Lục Ngạn", "Trái cây", "1 kg"),
            ("Mỳ Chũ", "Miến", "500 g"),
        ],
    ),
    (
        "Phú Thọ",
        &[
            ("Bưởi Đoan Hùng", "Trái cây", "1 kg"),
            ("Chè Phú Thọ", "Chè", "200 g"),
        ],
    ),
    ("Vĩnh Phúc", &[("Su su Tam Đảo", "Rau củ", "1 kg")]),
    (
        "Bắc Ninh",
        &[("Bánh phu thê Đình Bảng", "Bánh kẹo", "300 g")],
    ),
    (
        "Hải Dương",
        &[
            ("Bánh đậu xanh Hải Dương", "Bánh kẹo", "250 g"),
            ("Vải Thanh Hà", "Trái cây", "1 kg"),
        ],
    ),
    ("Hưng Yên", &[("Nhãn lồng Hưng Yên", "Trái cây", "1 kg")]),
    (
        "Thái Bình",
        &[("Bánh cáy Làng Nguyễn", "Bánh kẹo", "300 g")],
    ),
    (
        "Hà Nam",
        &[("Cá kho làng Vũ Đại", "Thực phẩm chế biến", "1 kg")],
    ),
    (
        "Nam Định",
        &[
            ("Kẹo sìu châu", "Bánh kẹo", "200 g"),
            ("Gạo tám Hải Hậu", "Gạo", "5 kg"),
        ],
    ),
    (
        "Ninh Bình",
        &[
            ("Cơm cháy Ninh Bình", "Bánh kẹo", "200 g"),
            ("Rượu Kim Sơn", "Đồ uống", "500 ml"),
        ],
    ),
    (
        "Thanh Hóa",
        &[
            ("Nem chua Thanh Hóa", "Thực phẩm chế biến", "500 g"),
            ("Nước mắm Ba Làng", "Nước mắm", "500 ml"),
        ],
    ),
    (
        "Nghệ An",
        &[
            ("Cam Vinh", "Trái cây", "1 kg"),
            ("Tương Nam Đàn", "Gia vị", "500 ml"),
        ],
    ),
    (
        "Hà Tĩnh",
        &[
            ("Kẹo cu đơ", "Bánh kẹo", "200 g"),
            ("Bưởi Phúc Trạch", "Trái cây", "1 kg"),
        ],
    ),
    (
        "Quảng Bình",
        &[("Khoai deo Quảng Bình", "Bánh kẹo", "300 g")],
    ),
    (
        "Quảng Trị",
        &[
            ("Hồ tiêu Vĩnh Linh", "Gia vị", "200 g"),
            ("Cà phê Khe Sanh", "Cà phê", "500 g"),
        ],
    ),
    (
        "Thừa Thiên Huế",
        &[
            ("Mè xửng Huế", "Bánh kẹo", "250 g"),
            ("Tôm chua Huế", "Thủy sản chế biến", "300 g"),
        ],
    ),
    (
        "Đà Nẵng",
        &[
            ("Chả bò Đà Nẵng", "Thực phẩm chế biến", "500 g"),
            ("Nước mắm Nam Ô", "Nước mắm", "500 ml"),
        ],
    ),
    (
        "Quảng Nam",
        &[
            ("Sâm Ngọc Linh", "Dược liệu", "100 g"),
            ("Mì Quảng khô", "Miến", "500 g"),
        ],
    ),
    (
        "Quảng Ngãi",
        &[
            ("Đường phổi Quảng Ngãi", "Bánh kẹo", "500 g"),
            ("Tỏi Lý Sơn", "Gia vị", "500 g"),
        ],
    ),
    (
        "Bình Định",
        &[
            ("Bánh tráng Trường Cửu", "Bánh tráng", "500 g"),
            ("Rượu Bàu Đá", "Đồ uống", "500 ml"),
        ],
    ),
    (
        "Phú Yên",
        &[("Cá ngừ đại dương Phú Yên", "Thủy sản", "1 kg")],
    ),
    (
        "Khánh Hòa",
        &[
            ("Yến sào Khánh Hòa", "Yến sào", "100 g"),
            ("Nem Ninh Hòa", "Thực phẩm chế biến", "300 g"),
        ],
    ),
    (
        "Ninh Thuận",
        &[
            ("Nho Ninh Thuận", "Trái cây", "1 kg"),
            ("Táo xanh Ninh Thuận", "Trái cây", "1 kg"),
        ],
    ),
    (
        "Bình Thuận",
        &[
            ("Nước mắm Phan Thiết", "Nước mắm", "650 ml"),
            ("Thanh long Bình Thuận", "Trái cây", "1 kg"),
        ],
    ),
    ("Kon Tum", &[("Sâm dây Kon Tum", "Dược liệu", "100 g")]),
    (
        "Gia Lai",
        &[
            ("Hồ tiêu Chư Sê", "Gia vị", "500 g"),
            ("Cà phê Gia Lai", "Cà phê", "500 g"),
        ],
    ),
    (
        "Đắk Lắk",
        &[
            ("Cà phê Buôn Ma Thuột", "Cà phê", "500 g"),
            ("Sầu riêng Krông Pắc", "Trái cây", "2 kg"),
        ],
    ),
    ("Đắk Nông", &[("Hạt mắc ca Đắk Nông", "Hạt", "500 g")]),
    (
        "Lâm Đồng",
        &[
            ("Atiso Đà Lạt", "Chè", "100 g"),
            ("Chè B'Lao", "Chè", "200 g"),
        ],
    ),
    ("Bình Phước", &[("Hạt điều Bình Phước", "Hạt", "500 g")]),
    (
        "Tây Ninh",
        &[
            ("Bánh tráng Trảng Bàng", "Bánh tráng", "500 g"),
            ("Muối tôm Tây Ninh", "Gia vị", "200 g"),
        ],
    ),
    ("Bình Dương", &[("Bưởi Bạch Đằng", "Trái cây", "1 kg")]),
    ("Đồng Nai", &[("Bưởi Tân Triều", "Trái cây", "1 kg")]),
    (
        "Bà Rịa – Vũng Tàu",
        &[("Mắm ruốc Vũng Tàu", "Thủy sản chế biến", "300 g")],
    ),
    (
        "TP. Hồ Chí Minh",
        &[("Bò bía Sài Gòn", "Bánh kẹo", "300 g")],
    ),
    (
        "Long An",
        &[
            ("Gạo Nàng Thơm Chợ Đào", "Gạo", "5 kg"),
            ("Thanh long Châu Thành", "Trái cây", "1 kg"),
        ],
    ),
    (
        "Tiền Giang",
        &[
            ("Vú sữa Lò Rèn", "Trái cây", "1 kg"),
            ("Hủ tiếu Mỹ Tho", "Miến", "500 g"),
        ],
    ),
    ("Bến Tre", &[("Kẹo dừa Bến Tre", "Bánh kẹo", "400 g")]),
    ("Trà Vinh", &[("Dừa sáp Cầu Kè", "Trái cây", "1 quả")]),
    ("Vĩnh Long", &[("Bưởi Năm Roi", "Trái cây", "1 kg")]),
    (
        "Đồng Tháp",
        &[
            ("Xoài Cao Lãnh", "Trái cây", "1 kg"),
            ("Sen Tháp Mười", "Hạt", "500 g"),
        ],
    ),
    (
        "An Giang",
        &[
            ("Mắm Châu Đốc", "Thủy sản chế biến", "500 g"),
            ("Đường thốt nốt", "Bánh kẹo", "500 g"),
        ],
    ),
    (
        "Kiên Giang",
        &[
            ("Nước mắm Phú Quốc", "Nước mắm", "650 ml"),
            ("Tiêu Phú Quốc", "Gia vị", "200 g"),
        ],
    ),
    ("Cần Thơ", &[("Bánh tét lá cẩm", "Bánh kẹo", "1 kg")]),
    ("Hậu Giang", &[("Khóm Cầu Đúc", "Trái cây", "1 quả")]),
    (
        "Sóc Trăng",
        &[
            ("Gạo ST25", "Gạo", "5 kg"),
            ("Bánh pía Sóc Trăng", "Bánh kẹo", "400 g"),
        ],
    ),
    ("Bạc Liêu", &[("Muối Bạc Liêu", "Gia vị", "500 g")]),
    (
        "Cà Mau",
        &[
            ("Tôm khô Rạch Gốc", "Thủy sản khô", "250 g"),
            ("Mật ong U Minh", "Mật ong", "500 ml"),
        ],
    ),
];

/// Variants that make one speciality into several products.
pub const VARIANTS: &[&str] = &[
    "",
    " đặc biệt",
    " loại 1",
    " hữu cơ",
    " truyền thống",
    " cao cấp",
    " hộp quà",
    " túi zip",
];

/// Producer kinds, as they appear in registered names.
pub const PRODUCER_KINDS: &[&str] = &[
    "Hợp tác xã",
    "Hộ kinh doanh",
    "Công ty TNHH",
    "Công ty Cổ phần",
    "Tổ hợp tác",
    "Cơ sở sản xuất",
];

/// Syllables of place and business names.
pub const NAME_PARTS: &[&str] = &[
    "An", "Bình", "Phú", "Tân", "Hòa", "Thành", "Long", "Phước", "Thịnh", "Hưng", "Minh", "Đức",
    "Quang", "Trung", "Nam", "Bắc", "Đông", "Tây", "Xuân", "Thu", "Hạ", "Mỹ", "Lộc", "Phát",
    "Vĩnh", "Sơn", "Hải", "Thủy", "Lâm", "Hồng", "Ngọc", "Kim", "Thuận", "Lợi", "Nghĩa", "Hiệp",
    "Thái", "Yên", "Khánh", "Lạc",
];

pub const CERTIFICATIONS: &[&str] = &[
    "VietGAP",
    "GlobalGAP",
    "HACCP",
    "ISO 22000",
    "Hữu cơ",
    "FSSC 22000",
    "Halal",
];

/// Supply-chain stages in their natural order (EPCIS business steps).
pub const STEPS: &[&str] = &[
    "harvesting",
    "processing",
    "packing",
    "storage",
    "shipping",
    "receiving",
    "retail",
];

/// Where goods go after they leave the producer's province.
pub const HUBS: &[(&str, &str)] = &[
    ("Kho trung chuyển Long Biên", "Hà Nội"),
    ("Trung tâm phân phối Sóng Thần", "Bình Dương"),
    ("Cảng cạn Tiên Sơn", "Bắc Ninh"),
    ("Kho lạnh Hòa Khánh", "Đà Nẵng"),
    ("Chợ đầu mối Thủ Đức", "TP. Hồ Chí Minh"),
];

pub const RETAILERS: &[(&str, &str)] = &[
    ("Siêu thị Co.op Nguyễn Đình Chiểu", "TP. Hồ Chí Minh"),
    ("Cửa hàng OCOP Hoàn Kiếm", "Hà Nội"),
    ("Siêu thị Big C Đà Nẵng", "Đà Nẵng"),
    ("Cửa hàng đặc sản Ninh Kiều", "Cần Thơ"),
    ("Siêu thị WinMart Hải Phòng", "Hải Phòng"),
];
