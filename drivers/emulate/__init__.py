"""Emulators of the built-in devices, so every driver works (and is tested) without hardware.

imager.py         the imager's firmware: ports, a virtual drive on S1, its own imaging
                  strategy, its map and change log, its log (shared by both transports)
serial_imager.py  that firmware behind a pseudo-terminal (the serial-imager driver's device)
usb.py            a virtual pyusb backend and the USB devices behind it (usb-imager, dcttech)
lcus.py           an LCUS relay board behind a pseudo-terminal, wired to a virtual drive's power
"""
