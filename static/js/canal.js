// Canal scripts
