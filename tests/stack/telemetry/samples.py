"""Recorded tegrastats lines and power-state outputs, in the formats NVIDIA's Jetson Linux
Developer Guide ("tegrastats Utility") documents for AGX Xavier (JetPack 4 and 5) and AGX Orin
(JetPack 5.1 and 6)."""

XAVIER_JP5 = (
    "RAM 2448/31920MB (lfb 7086x4MB) SWAP 0/15960MB (cached 0MB) "
    "CPU [62%@2265,40%@2265,off,off,35%@2265,28%@2265,off,off] EMC_FREQ 21%@2133 "
    "GR3D_FREQ 87%@1377 APE 150 MTS fg 0% bg 0% AO@41.5C GPU@47C Tdiode@44.25C PMIC@50C "
    "AUX@41C CPU@45.5C thermal@44.85C Tboard@42C GPU 9284mW/8701mW CPU 2632mW/2478mW "
    "SOC 3251mW/3190mW CV 0mW/0mW VDDRQ 1393mW/1366mW SYS5V 4270mW/4198mW"
)
XAVIER_JP4 = (
    "RAM 2050/31920MB (lfb 6886x4MB) SWAP 0/15960MB (cached 0MB) "
    "CPU [1%@1190,0%@1190,0%@1190,0%@1190,off,off,off,off] EMC_FREQ 0%@2133 GR3D_FREQ 0%@114 "
    "APE 150 MTS fg 0% bg 0% AO@35.5C GPU@36C Tdiode@38.25C PMIC@50C AUX@35.5C CPU@36.5C "
    "thermal@36.25C Tboard@36C GPU 0/0 CPU 155/155 SOC 1087/1087 CV 0/0 VDDRQ 155/155 "
    "SYS5V 1556/1556"
)
ORIN_JP6 = (
    "11-21-2024 10:51:41 RAM 4722/30536MB (lfb 5787x4MB) SWAP 0/15268MB (cached 0MB) "
    "CPU [12%@1728,3%@1728,0%@1728,0%@1728,5%@1728,0%@1728,0%@1728,0%@1728,off,off,off,off] "
    "EMC_FREQ 4%@3199 GR3D_FREQ 45%@[1300,1300] VIC_FREQ 729 APE 174 CV0@-256C CPU@46.968C "
    "Tboard@34C SOC2@43.437C Tdiode@36.5C SOC0@44.531C CV1@-256C GPU@48.1C tj@48.1C "
    "SOC1@43.781C CV2@-256C VDD_GPU_SOC 7189mW/6021mW VDD_CPU_CV 1398mW/1203mW "
    "VIN_SYS_5V0 4131mW/4031mW VDDQ_VDD2_1V8AO 503mW/503mW"
)
NVPMODEL_Q = "NV Power Mode: MAXN\n0\n"
JETSON_CLOCKS_PINNED = """SOC family:tegra194  Machine:Jetson-AGX
Online CPUs: 0-7
cpu0: Online=1 Governor=schedutil MinFreq=2265600 MaxFreq=2265600 CurrentFreq=2265600 IdleStates: C1=0 c6=0
cpu1: Online=1 Governor=schedutil MinFreq=2265600 MaxFreq=2265600 CurrentFreq=2265600 IdleStates: C1=0 c6=0
GPU MinFreq=1377000000 MaxFreq=1377000000 CurrentFreq=1377000000
EMC MinFreq=204000000 MaxFreq=2133000000 CurrentFreq=2133000000 FreqOverride=1
NV Power Mode: MAXN
"""
JETSON_CLOCKS_DYNAMIC = JETSON_CLOCKS_PINNED.replace("MinFreq=2265600", "MinFreq=1190400", 1)
